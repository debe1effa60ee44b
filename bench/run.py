"""`make bench`: proves the portal stays fast as customers grow. Builds its own data in its
own database, measures, and prints one table (also written to bench/out/, and for a full
run into bench/results.md between the markers of its database).

1. Pages: server time (in-process, Django's test Client: middleware, view, template, no
   network) and SQL queries of the deployment page with 10 and 500 peerings beside a stock
   admin changelist of the same 500, the customer audit page first and deep into a million
   events, and the support admin's peering list with 10 and 5,000 rows.
2. Provisioning: 200 peerings confirmed at once and taken to running by a 2-worker
   django-q2 cluster against a moto server, beside a plain boto3 script making the same
   calls; AWS calls per peering, counted with botocore event hooks. The AWS budget is
   unbounded here (the floor keeps to none; part 5 measures the budget).
3. Under load: gunicorn (2 workers) serving the deployment page beside the stock admin
   changelist of the same peerings and a minimal view.
4. Reconcile: 10,000 peerings over 500 deployments, clean and with 1% drift of each kind,
   beside a plain boto3 script making the floor's reads (bench/reconcile.py).
5. Burst: 1,000 peerings confirmed at once (100 quick), behind a proxy that throttles EC2
   as EC2 does (bench/throttleproxy.py): all running, RequestLimitExceeded answers, time
   against the AWS budget's own minimum.

Environment:
  DATABASE_URL  PostgreSQL instead of SQLite (bench/.bench.sqlite3). The database is
                dropped and created again, so its name must contain "bench".
  REDIS_URL     the Redis broker for django-q2 (else the ORM broker). The bench's queue is
                its own (Q_CLUSTER_NAME=peering_portal_bench), emptied when it starts.
  BENCH_QUICK=1 a smoke run: smaller numbers, fewer repetitions, no results.md update.
  BENCH_PROFILE=1  also write a pyinstrument profile of every measured page to bench/out/.
  BENCH_PARTS   which parts to run, e.g. "provisioning" or "pages,load" (default: all;
                results.md is only updated by a full run of all of them).
  BENCH_SETTINGS  a settings module to run with instead of peering_portal.settings, to try
                a settings change without editing the app (put it on PYTHONPATH).

Everything it starts listens on 127.0.0.1 and is stopped when it ends."""

import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dj_database_url
import django

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
SQLITE_PATH = BENCH / ".bench.sqlite3"
RESULTS = BENCH / "results.md"
PARTS = ("pages", "provisioning", "load", "reconcile", "burst")
PROFILE_DIR = OUT if os.environ.get("BENCH_PROFILE") == "1" else None


@dataclass(frozen=True)
class Scale:
    small: int = 10
    large: int = 500
    admin_rows: int = 5000
    audit_events: int = 1_000_000
    page_runs: int = 15
    provision_peerings: int = 200
    provision_rounds: int = 3
    load_seconds: float = 30
    load_rounds: int = 3
    reconcile_peerings: int = 10_000
    reconcile_rounds: int = 1
    burst_peerings: int = 1000


FULL = Scale()
QUICK = Scale(
    audit_events=100_000,
    page_runs=5,
    provision_peerings=20,
    provision_rounds=1,
    load_seconds=4,
    load_rounds=2,
    reconcile_peerings=500,
    burst_peerings=100,
)

_started = time.monotonic()


def progress(message):
    print(f"[{time.monotonic() - _started:6.1f}s] {message}", file=sys.stderr, flush=True)


def configure_environment():
    """The settings the benchmark runs with, set before Django reads them; the worker
    cluster and gunicorn inherit them."""
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SETTINGS", "peering_portal.settings"),
            "SECRET_KEY": "bench-only-secret-key",
            "DEBUG": "false",
            "SECURE_COOKIES": "false",
            "SECURE_SSL_REDIRECT": "false",
            "DEMO_MODE": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "ROOT_URLCONF": "bench.urls",
            # A queue of its own: on a shared Redis no other cluster takes (or loses) its tasks.
            "Q_CLUSTER_NAME": "peering_portal_bench",
            "LOG_LEVEL": "WARNING",
            # The benchmark's own API requests are not to be rate-limited.
            "API_RATE_LIMIT_PER_MINUTE": "1000000",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            # Nothing reaches AWS: a closed port until the benchmark's own moto server runs.
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        }
    )
    if not os.environ.get("DATABASE_URL"):
        os.environ["SQLITE_PATH"] = str(SQLITE_PATH)


def fresh_database():
    url = os.environ.get("DATABASE_URL")
    if not url:
        for path in SQLITE_PATH.parent.glob(SQLITE_PATH.name + "*"):
            path.unlink()
        return
    import psycopg
    from psycopg import sql

    db = dj_database_url.parse(url)
    if "bench" not in db["NAME"]:
        sys.exit(
            f"DATABASE_URL names {db['NAME']!r}: the benchmark drops and recreates its "
            "database, so the name must contain 'bench'."
        )
    with psycopg.connect(
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        name = sql.Identifier(db["NAME"])
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))


def machine():
    from django.db import connection

    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            database = f"PostgreSQL {cursor.fetchone()[0]} (127.0.0.1)"
    else:
        database = f"SQLite {sqlite3.sqlite_version} (WAL, bench/.bench.sqlite3)"
    broker = "Redis" if os.environ.get("REDIS_URL") else "ORM (the database)"
    one, five, _ = os.getloadavg()
    return [
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}",
        f"Python {platform.python_version()}, Django {django.get_version()}",
        f"Database: {database}; django-q2 broker: {broker}",
        f"Code: {_git_state()}",
        f"Load average at the end (other work on the machine skews absolute times; "
        f"ratios are measured interleaved): {one:.2f} (1 min), {five:.2f} (5 min)",
    ]


def _git_state():
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--",
                "peerings",
                "peering_portal",
                "templates",
                "webhooks",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    files = len(changed.splitlines())
    return f"commit {commit}" + (
        f" plus uncommitted changes to {files} app file(s)" if files else ""
    )


def command():
    # A password in a URL stays out of the printed command and of results.md.
    parts = [
        f"{name}={re.sub(r'//([^:/@]*):[^@]*@', r'//\1:***@', os.environ[name])}"
        for name in ("DATABASE_URL", "REDIS_URL")
        if os.environ.get(name)
    ]
    if os.environ.get("BENCH_QUICK") == "1":
        parts.append("BENCH_QUICK=1")
    return " ".join([*parts, "make bench"])


class Table:
    HEADER = ("Measurement", "Result", "Queries", "Target", "")

    def __init__(self):
        self.rows = []

    def section(self, title):
        self.rows.append((f"**{title}**", "", "", "", ""))

    def add(self, measurement, result, queries="", target="", verdict=""):
        self.rows.append((measurement, result, str(queries), target, verdict))

    def check(self, measurement, result, ok, target):
        self.add(measurement, result, "", target, "met" if ok else "MISSED")

    def markdown(self):
        rows = [self.HEADER, *self.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.HEADER))]

        def line(row):
            return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

        return "\n".join(
            [
                line(rows[0]),
                "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                *(line(row) for row in rows[1:]),
            ]
        )


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def measure_pages(scale, table, *, measure=True):
    """Builds the customer (returned: the other parts use it) and measures its pages."""
    from bench import pages, world
    from core.models import AuditEvent

    admin_list = "/admin/peerings/peeringconnection/"
    progress("pages: the customer, a 10-peering deployment")
    w = world.start()
    w.small = world.deployment(w.organization, "small", scale.small)
    if not measure:
        return w
    owner, support = pages.client_for(w.owner), pages.client_for(w.support)
    small_admin = pages.measure(
        {"admin": (support, admin_list, f"{scale.small} peering connections")},
        scale.page_runs,
    )["admin"]

    others = scale.admin_rows - scale.small - scale.large
    progress(f"pages: a {scale.large}-peering deployment and {others:,} other customers' peerings")
    w.large = world.deployment(w.organization, "large", scale.large)
    world.other_customers(others)
    oldest = w.large.peerings.order_by("created_at").first().peering_id
    reference = (
        f"/bench/reference-admin/peerings/peeringconnection/?deployment__id__exact={w.large.pk}"
    )
    api = pages.api_client_for(w.organization, w.owner)
    api_list = "/api/v1/deployments/{}/peerings/?page_size=500"
    timed = pages.measure(
        {
            "minimal": (owner, "/bench/minimal/", "ok"),
            "small": (owner, f"/deployments/{w.small.pk}/", "VPC peering connections"),
            "large": (owner, f"/deployments/{w.large.pk}/", oldest),
            # The API's peering list beside the page that shows the same rows.
            "api-small": (api, api_list.format(w.small.pk), '"results"'),
            "api-large": (api, api_list.format(w.large.pk), oldest),
            "reference": (support, reference, f"{scale.large} peering connections"),
            "admin": (support, admin_list, f"{scale.admin_rows} peering connections"),
        },
        scale.page_runs,
        PROFILE_DIR,
    )

    progress(f"pages: {scale.audit_events:,} audit events")
    inserting = time.monotonic()
    world.audit_events(w, scale.audit_events)
    inserted = time.monotonic() - inserting
    newest = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    deep = newest - int(scale.audit_events * 0.9)
    audit = pages.measure(
        {
            "first": (owner, "/audit/", 'id="older"'),
            "deep": (owner, f"/audit/?before={deep}", 'id="older"'),
        },
        scale.page_runs,
        PROFILE_DIR,
    )

    small, large, ref = timed["small"], timed["large"], timed["reference"]
    table.section(
        f"1. Pages: server time in-process (Django test Client), median of {scale.page_runs}"
    )
    minimal = timed["minimal"]
    table.add(
        "(For scale: the minimal Django view of part 3, logged in)",
        ms(minimal.seconds),
        minimal.queries,
    )
    table.add(
        f"Deployment page, {scale.small} peerings + {scale.small} resources",
        f"{ms(small.seconds)} ({small.kilobytes:.0f} KB)",
        small.queries,
    )
    table.add(
        f"Deployment page, {scale.large} peerings + {scale.large} resources",
        f"{ms(large.seconds)} ({large.kilobytes:.0f} KB)",
        large.queries,
    )
    api_small, api_large = timed["api-small"], timed["api-large"]
    table.add(
        f"API peering list (GET /api/v1/…/peerings/?page_size=500), {scale.small} peerings",
        f"{ms(api_small.seconds)} ({api_small.kilobytes:.0f} KB)",
        api_small.queries,
    )
    table.add(
        f"API peering list, {scale.large} peerings",
        f"{ms(api_large.seconds)} ({api_large.kilobytes:.0f} KB)",
        api_large.queries,
    )
    table.check(
        f"API peering list queries, {scale.small} vs {scale.large} peerings",
        f"{api_small.queries} vs {api_large.queries}",
        api_small.queries == api_large.queries,
        "identical",
    )
    table.add(
        f"Reference: stock admin changelist of the same {scale.large} (list_per_page 500)",
        f"{ms(ref.seconds)} ({ref.kilobytes:.0f} KB)",
        ref.queries,
    )
    table.check(
        f"Deployment page queries, {scale.small} vs {scale.large} peerings",
        f"{small.queries} vs {large.queries}",
        small.queries == large.queries,
        "identical",
    )
    table.check(
        f"Deployment page ({scale.large}) / reference",
        f"{large.seconds / ref.seconds:.2f}",
        large.seconds <= ref.seconds,
        "≤ 1.00",
    )
    first, deep_page = audit["first"], audit["deep"]
    table.add(
        f"Audit page, first page of {scale.audit_events:,} events (inserted in {inserted:.1f} s)",
        ms(first.seconds),
        first.queries,
    )
    table.add(
        f"Audit page, ?before={deep} ({int(scale.audit_events * 0.9):,} events deep)",
        ms(deep_page.seconds),
        deep_page.queries,
    )
    table.check(
        "Audit deep page / first page",
        f"{deep_page.seconds / first.seconds:.2f}",
        deep_page.seconds <= 1.5 * first.seconds,
        "≤ 1.50",
    )
    big_admin = timed["admin"]
    table.add(
        f"Support admin peering list, {scale.small} rows",
        ms(small_admin.seconds),
        small_admin.queries,
    )
    table.add(
        f"Support admin peering list, {scale.admin_rows:,} rows (100 a page)",
        ms(big_admin.seconds),
        big_admin.queries,
    )
    table.check(
        f"Support admin list queries, {scale.small} vs {scale.admin_rows:,} rows",
        f"{small_admin.queries} vs {big_admin.queries}",
        small_admin.queries == big_admin.queries,
        "identical",
    )
    return w


def _per_peering(calls, made):
    order = [
        "DescribeVpcPeeringConnections",
        "AcceptVpcPeeringConnection",
        "DescribeRouteTables",
        "DescribeSecurityGroups",
        "CreateRoute",
        "AuthorizeSecurityGroupIngress",
    ]
    names = sorted(calls, key=lambda op: (order.index(op) if op in order else len(order), op))
    return ", ".join(f"{op} {calls[op] / made:g}" for op in names)


def measure_provisioning(scale, table, w):
    from bench import provisioning

    result = provisioning.run(
        w, OUT, peerings=scale.provision_peerings, rounds=scale.provision_rounds, progress=progress
    )
    made = result.peerings * result.rounds
    portal = statistics.median(result.portal_seconds)
    floor = statistics.median(result.floor_seconds)
    confirming = statistics.median(result.confirm_seconds)
    running = result.statuses.get("running", 0)
    table.section(
        f"2. Provisioning: {result.peerings} peerings confirmed at once, median of "
        f"{result.rounds} round(s), moto server on loopback, AWS budget unbounded (part 5 "
        "keeps to AWS's)"
    )
    table.add(
        "Portal: first confirm → last running (2-worker django-q2 cluster)",
        f"{portal:.1f} s ({result.peerings / portal:.1f}/s; confirming took {confirming:.1f} s)",
    )
    table.add(
        "Floor: the same AWS calls back-to-back, plain boto3",
        f"{floor:.1f} s ({result.peerings / floor:.1f}/s)",
    )
    table.check("Portal / floor", f"{portal / floor:.2f}", portal <= 1.5 * floor, "≤ 1.50")
    table.check("Peerings running at the end", f"{running} of {made}", running == made, "all")
    table.add(
        "AWS calls per peering, portal (before-call hooks)", _per_peering(result.portal_calls, made)
    )
    table.add("AWS calls per peering, floor", _per_peering(result.floor_calls, made))
    if result.portal_cpu and result.floor_cpu:
        table.add(
            "CPU per peering: portal / floor (ms)",
            "; ".join(
                " + ".join(f"{who} {seconds / made * 1000:.0f}" for who, seconds in cpu.items())
                for cpu in (result.portal_cpu, result.floor_cpu)
            ),
        )
    retries = sum(result.portal_sends.values()) - sum(result.portal_calls.values())
    extra = result.extra_calls()
    table.check(
        "Portal calls beyond the minimal sequence",
        ", ".join(f"{op} {n:g}" for op, n in extra.items())
        or f"none ({result.polls():g} extra describe per peering: the poll until "
        f"active; {retries} HTTP retries)",
        not extra,
        "none except polls",
    )


def measure_load(scale, table, w):
    from bench import underload, world

    reference = (
        f"/bench/reference-admin/peerings/peeringconnection/?deployment__id__exact={w.small.pk}"
    )
    ceiling, page, admin = underload.run(
        [
            ("Minimal Django view (ceiling)", "/bench/minimal/", "ok", w.owner),
            (
                f"Deployment page, {scale.small} peerings",
                f"/deployments/{w.small.pk}/",
                "VPC peering connections",
                w.owner,
            ),
            (
                f"Stock admin changelist of the same {scale.small} (superuser)",
                reference,
                f"{scale.small} peering connections",
                world.superuser(),
            ),
        ],
        OUT,
        seconds=scale.load_seconds,
        rounds=scale.load_rounds,
        progress=progress,
    )
    table.section(
        f"3. Under load: gunicorn, 2 sync workers; bench/loadgen.py (Python asyncio, "
        f"{underload.CONNECTIONS} connections) on loopback; {scale.load_seconds:g} s "
        f"each in {scale.load_rounds} rounds, medians"
    )
    for figure in (ceiling, page, admin):
        server = figure.cpu_ms_per_request(figure.server_cpu)
        cpu = (
            ""
            if server is None
            else (
                f"; CPU/request: server {server:.1f} ms, load generator "
                f"{figure.cpu_ms_per_request(figure.client_cpu):.1f} ms"
            )
        )
        table.add(
            figure.name,
            f"{figure.median_per_second:.0f} req/s, p50 "
            f"{figure.median_p50_ms:.1f} ms, p99 {figure.median_p99_ms:.1f} ms "
            f"({figure.requests:,} requests, {figure.errors} errors{cpu})",
        )
    table.add(
        "Deployment page / ceiling (requests/s; reported, no target)",
        f"{page.median_per_second / ceiling.median_per_second:.2f}",
    )
    ratio = page.median_per_second / admin.median_per_second
    table.check(
        "Deployment page / stock admin changelist (requests/s)",
        f"{ratio:.2f}",
        ratio >= 1.0,
        "≥ 1.00",
    )


def measure_reconcile(scale, table, w):
    from bench import reconcile

    peerings, deployments, measured = reconcile.run(
        w, OUT, peerings=scale.reconcile_peerings, rounds=scale.reconcile_rounds, progress=progress
    )
    reconcile.add_rows(table, peerings, deployments, measured)


def measure_burst(scale, table, w):
    from bench import burst

    result = burst.run(w, OUT, peerings=scale.burst_peerings, progress=progress)
    running = result.statuses.get("running", 0)
    minimum, busiest = result.minimum()
    capacity, rate = burst.ratebudget.bucket_size(busiest) if busiest else (0, 0)
    table.section(
        f"5. Burst: {result.peerings} peerings confirmed at once, 2-worker cluster, behind a "
        "proxy that throttles EC2 with AWS's bucket sizes"
    )
    table.check(
        "Peerings running at the end",
        f"{running} of {result.peerings}"
        + ("" if running == result.peerings else f" ({result.statuses})"),
        running == result.peerings,
        "all",
    )
    throttled = sum(result.throttled.values())
    table.add(
        "RequestLimitExceeded answers (proxy; counted by the portal)",
        f"{throttled} of {sum(result.forwarded.values()) + throttled} requests "
        f"({result.counted_by_portal})" + (f": {result.throttled}" if throttled else ""),
    )
    table.add(
        "First confirm → last running (confirming took)",
        f"{result.seconds:.1f} s ({result.confirm_seconds:.1f} s)",
    )
    table.add(
        "Budget's own minimum (busiest bucket)",
        f"{minimum:.1f} s ({busiest}: {result.forwarded.get(busiest, 0)} calls, "
        f"bucket {capacity:g} + {rate:g}/s)",
    )
    table.add(
        "Burst time / budget's minimum",
        f"{result.seconds / minimum:.2f}" if minimum else "n/a",
    )


def write_results(table, lines):
    from django.db import connection

    text = "\n".join([*lines, "", table.markdown(), ""])
    OUT.mkdir(exist_ok=True)
    (OUT / f"results-{connection.vendor}.md").write_text(text)
    if any(os.environ.get(name) for name in ("BENCH_QUICK", "BENCH_PARTS", "BENCH_SETTINGS")):
        return
    begin, end = f"<!-- results:{connection.vendor} -->", f"<!-- /results:{connection.vendor} -->"
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{begin}\n{text}{end}"
    if begin in current and end in current:
        current = current[: current.index(begin)] + block + current[current.index(end) + len(end) :]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(current)


def main():
    scale = QUICK if os.environ.get("BENCH_QUICK") == "1" else FULL
    configure_environment()
    fresh_database()
    OUT.mkdir(exist_ok=True)
    django.setup()
    from django.core.management import call_command

    progress("migrating the benchmark's database")
    call_command("migrate", interactive=False, verbosity=0)
    # The pages link the collected static files by their hashed names, as in production.
    call_command("collectstatic", interactive=False, verbosity=0)
    table = Table()
    parts = os.environ.get("BENCH_PARTS", ",".join(PARTS)).split(",")
    unknown = set(parts) - set(PARTS)
    if unknown:
        sys.exit(
            f"BENCH_PARTS: unknown part(s) {', '.join(sorted(unknown))}; choose from "
            f"{', '.join(PARTS)}"
        )
    w = measure_pages(scale, table, measure="pages" in parts)
    if "provisioning" in parts:
        measure_provisioning(scale, table, w)
    if "load" in parts:
        measure_load(scale, table, w)
    if "reconcile" in parts:
        measure_reconcile(scale, table, w)
    if "burst" in parts:
        measure_burst(scale, table, w)
    lines = [
        f"Command: `{command()}`",
        "",
        *(f"- {line}" for line in machine()),
        f"- Wall time of the run: {time.monotonic() - _started:.0f} s",
    ]
    if scale is QUICK:
        lines.append(
            "- Smoke run: numbers too small for the targets (20 peerings wait on the "
            "broker's first poll); run `make bench` for the verdicts"
        )
    print("\n".join(lines) + "\n\n" + table.markdown())
    write_results(table, lines)


if __name__ == "__main__":
    main()
