"""The production run (CI runs it after the suites, `.ci/run`): the portal started as
docs/deploy.md says, then used as a customer and an operator would.

collectstatic and migrate on a fresh PostgreSQL database; gunicorn (2 workers,
gunicorn.conf.py) with DEBUG off and a random SECRET_KEY; 2 `qcluster` processes on the
Redis broker; a moto server in AWS's place. It logs in, makes a peering request with the
AWS CLI in a customer account, confirms it in the console and waits for `running`; loads
the stylesheet (200, a year's cache); gets 200 from /readyz and the peering from /metrics.
Then SIGTERM must stop every process, with all they forked, within 10 s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pp_prodcheck \\
    REDIS_URL=redis://127.0.0.1:6379/0 python scripts/prodcheck.py

The database named in DATABASE_URL is dropped and made afresh. Prints each step's time."""

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import supervise

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VENDOR, CUSTOMER, REGION = "123456789012", "210987654321", "us-east-1"
STOP_WITHIN = 10  # seconds, after SIGTERM
STARTED = time.monotonic()


def step(message):
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(what, check, seconds, logs=()):
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
        except httpx.TransportError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            for log in logs:
                print(f"--- {log.name}\n{log.read_text()[-4000:]}", file=sys.stderr)
            sys.exit(f"FAILED: {what} within {seconds}s")
        time.sleep(0.5)


def fresh_database(url):
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        sys.exit(f"DATABASE_URL must name a plain database, not {name!r}")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")


class Aws:
    """The AWS CLI against the simulator, in the vendor's account or (assumed) a customer's."""

    def __init__(self, endpoint, env):
        self.endpoint, self.env = endpoint, env

    def __call__(self, *args):
        shown = subprocess.run(
            [str(BIN / "aws"), "--endpoint-url", self.endpoint, "--output", "json", *args],
            env=self.env,
            capture_output=True,
            text=True,
        )
        if shown.returncode:
            sys.exit(f"FAILED: aws {' '.join(args)}: {shown.stderr}")
        return json.loads(shown.stdout) if shown.stdout.strip() else {}

    def as_account(self, account_id):
        credentials = self(
            "sts",
            "assume-role",
            "--role-arn",
            f"arn:aws:iam::{account_id}:role/customer",
            "--role-session-name",
            "prodcheck",
        )["Credentials"]
        return Aws(
            self.endpoint,
            {
                **self.env,
                "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                "AWS_SESSION_TOKEN": credentials["SessionToken"],
            },
        )


MAKE_WORLD = """
import os
from django.contrib.auth import get_user_model
from core.models import Membership, Organization
from peerings.models import Deployment
password, vpc_id, group_id = (os.environ[f"PRODCHECK_{name}"] for name in ("PASSWORD", "VPC", "SG"))
user = get_user_model().objects.create_user("operator", password=password)
org = Organization.objects.create(name="Production check")
Membership.objects.create(organization=org, user=user, role=Membership.Role.OWNER)
deployment = Deployment.objects.create(
    organization=org, name="orders", plan="dedicated", region="us-east-1",
    vendor_account_id="123456789012", vpc_id=vpc_id, cidr="10.20.0.0/16",
    security_group_id=group_id, service_ports=[1883, 8883],
)
print(deployment.pk)
"""


def screenshot(web_port, session_id, page_url):
    """The deployment page in Chromium (1400x900) through gunicorn with DEBUG off: the
    stylesheet applies (no CSP refusal), saved to test-artifacts/prodcheck-console.png.
    Skipped where there is no Chromium (CI installs it)."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        step(f"screenshot skipped: no {chromium}")
        return
    from playwright.sync_api import sync_playwright

    origin = f"http://portal.example.test:{web_port}"
    refused = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                # The portal's host name, here on this machine.
                "--host-resolver-rules=MAP portal.example.test 127.0.0.1",
            ],
        )
        context = browser.new_context(
            viewport={"width": 1400, "height": 900},
            extra_http_headers={"X-Forwarded-Proto": "https"},  # the TLS proxy we play
        )
        context.add_cookies([{"name": "sessionid", "value": session_id, "url": origin}])
        page = context.new_page()
        page.on(
            "console",
            lambda message: "Content Security Policy" in message.text and refused.append(message),
        )
        page.goto(origin + page_url)
        rules = page.evaluate(
            "[...document.styleSheets].reduce((n, sheet) => n + sheet.cssRules.length, 0)"
        )
        out = ROOT / "test-artifacts"
        out.mkdir(exist_ok=True)
        page.screenshot(path=str(out / "prodcheck-console.png"))
        browser.close()
    if not rules or refused:
        sys.exit(f"FAILED: the stylesheet did not apply ({rules} rules; CSP: {refused})")
    step(f"Chromium: {rules} CSS rules applied; test-artifacts/prodcheck-console.png")


def main():
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url.startswith("redis"):
        sys.exit("Set DATABASE_URL (PostgreSQL; dropped and made afresh) and REDIS_URL.")
    work = Path(tempfile.mkdtemp(prefix="prodcheck-"))
    web_port, aws_port = free_port(), free_port()
    metrics_token = secrets.token_urlsafe(32)
    aws_endpoint = f"http://127.0.0.1:{aws_port}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "DJANGO_SETTINGS_MODULE": "peering_portal.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "portal.example.test",
        # Behind a TLS proxy (which we play: X-Forwarded-Proto on every console request);
        # plain http here, so cookies may not be Secure-only.
        "BEHIND_TLS_PROXY": "true",
        "SECURE_COOKIES": "false",
        "LOG_FORMAT": "json",
        "METRICS_TOKEN": metrics_token,
        "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
        # A queue of its own on a shared Redis.
        "Q_CLUSTER_NAME": f"prodcheck_{uuid.uuid4().hex[:8]}",
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "PYTHONUNBUFFERED": "1",
    }
    # Made empty before any process starts, as the service manager does (docs/deploy.md).
    (work / "metrics").mkdir()
    processes, logs = {}, []

    def run(*command):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)

    def start(name, command, **extra_env):
        log = work / f"{name}.log"
        logs.append(log)
        processes[name] = supervise.start(
            command,
            cwd=ROOT,
            env={**env, **extra_env},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )

    try:
        step(f"fresh database, collectstatic, migrate (work directory {work})")
        fresh_database(database_url)
        run("collectstatic", "--no-input", "-v", "0")
        run("migrate", "--no-input", "-v", "0")

        start("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(aws_port)])
        start(
            "gunicorn",
            [str(BIN / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{web_port}"],
        )
        # Two worker clusters on the same queue, as on two hosts, and the webhook cluster
        # (its own queue: the name + "-webhooks").
        start("qcluster-1", [sys.executable, "manage.py", "qcluster"])
        start("qcluster-2", [sys.executable, "manage.py", "qcluster"])
        start(
            "qcluster-webhooks",
            [sys.executable, "manage.py", "qcluster"],
            Q_CLUSTER_NAME=env["Q_CLUSTER_NAME"] + "-webhooks",
        )
        web = f"http://127.0.0.1:{web_port}"
        wait_for("moto answers", lambda: httpx.get(aws_endpoint, timeout=2), 30, logs)

        step("the vendor's network (AWS CLI, vendor account)")
        vendor = Aws(aws_endpoint, env)
        vpc_id = vendor("ec2", "create-vpc", "--cidr-block", "10.20.0.0/16")["Vpc"]["VpcId"]
        group_id = vendor(
            "ec2",
            "create-security-group",
            "--group-name",
            "orders",
            "--description",
            "orders",
            "--vpc-id",
            vpc_id,
        )["GroupId"]
        password = secrets.token_urlsafe(16)
        deployment_pk = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", MAKE_WORLD],
            cwd=ROOT,
            env={
                **env,
                "PRODCHECK_PASSWORD": password,
                "PRODCHECK_VPC": vpc_id,
                "PRODCHECK_SG": group_id,
            },
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]

        step("a peering request from a customer account (AWS CLI)")
        customer = vendor.as_account(CUSTOMER)
        customer_vpc = customer("ec2", "create-vpc", "--cidr-block", "172.31.0.0/16")["Vpc"][
            "VpcId"
        ]
        peering_id = customer(
            "ec2",
            "create-vpc-peering-connection",
            "--vpc-id",
            customer_vpc,
            "--peer-vpc-id",
            vpc_id,
            "--peer-owner-id",
            VENDOR,
            "--peer-region",
            REGION,
        )["VpcPeeringConnection"]["VpcPeeringConnectionId"]

        step("log in and confirm the peering in the console (gunicorn, DEBUG off)")
        proxy = {"X-Forwarded-Proto": "https", "Host": "portal.example.test"}
        console = httpx.Client(base_url=web, headers=proxy, timeout=30)
        wait_for("gunicorn answers", lambda: console.get("/login/").status_code == 200, 30, logs)
        login = console.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        referer = {"Referer": "https://portal.example.test/login/"}
        signed_in = console.post(
            "/login/",
            data={"username": "operator", "password": password, "csrfmiddlewaretoken": token},
            headers=referer,
        )
        assert signed_in.status_code == 302, signed_in.text[-2000:]
        page_url = f"/deployments/{deployment_pk}/"
        page = console.get(page_url)
        assert page.status_code == 200, page.status_code
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        token = token.group(1) if token else console.cookies["csrftoken"]
        confirmed = console.post(
            f"{page_url}peerings/new/",
            data={
                "peering_id": peering_id,
                "account_id": CUSTOMER,
                "vpc_id": customer_vpc,
                "csrfmiddlewaretoken": token,
            },
            headers={"Referer": f"https://portal.example.test{page_url}"},
        )
        assert confirmed.status_code in (200, 302), confirmed.status_code
        assert "confirmed" in console.get(page_url).text or confirmed.status_code == 302

        def status():
            found = re.search(r'class="peering" data-status="(\w+)"', console.get(page_url).text)
            return found and found.group(1) == "running"

        wait_for(f"{peering_id} running", status, 120, logs)
        step(f"{peering_id} is running")

        stylesheet = re.search(
            r'href="(/static/portal\.[0-9a-f]{12}\.css)"', console.get(page_url).text
        ).group(1)
        css = console.get(stylesheet)
        assert css.status_code == 200, css.status_code
        assert "max-age=315360000" in css.headers["cache-control"], css.headers
        step(f"{stylesheet}: {css.status_code}, Cache-Control: {css.headers['cache-control']}")

        screenshot(web_port, console.cookies["sessionid"], page_url)

        # A load balancer: by address, plain http, no session.
        probe = httpx.Client(base_url=web, headers={"Host": "10.0.3.17"}, timeout=10)
        assert probe.get("/healthz").json() == {"status": "ok"}
        wait_for("/readyz 200", lambda: probe.get("/readyz").status_code == 200, 120, logs)
        step(f"/readyz: {probe.get('/readyz').text}")

        scrapes = [
            probe.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
            for _ in range(4)  # over both gunicorn workers: every scrape sums all processes
        ]
        assert all(scrape.status_code == 200 for scrape in scrapes)
        assert probe.get("/metrics").status_code == 404  # no token
        accepted = {
            re.search(
                r'^peering_portal_aws_calls_total\{operation="AcceptVpcPeeringConnection",'
                r'outcome="ok"\} (\S+)$',
                scrape.text,
                re.MULTILINE,
            ).group(1)
            for scrape in scrapes
        }
        body = scrapes[-1].text
        assert 'peering_portal_peerings{status="running"} 1.0' in body, body
        assert accepted == {"1.0"}, accepted
        assert "peering_portal_provisioning_seconds_count 1.0" in body, body
        for line in body.splitlines():
            if line.startswith(
                ("peering_portal_peerings{", "peering_portal_aws_calls_total", "peering_portal_q")
            ):
                print("    " + line)
        json_lines = [
            json.loads(line)
            for log in logs
            if log.name.startswith(("gunicorn", "qcluster"))
            for line in log.read_text().splitlines()
            if line.strip()
        ]
        step(f"{len(json_lines)} log lines, every one JSON")

        step("SIGTERM to gunicorn, both qclusters and moto")
        supervise.terminate(processes.values())
        sent = time.monotonic()
        left = supervise.wait_for_groups(processes.values(), STOP_WITHIN)
        took = time.monotonic() - sent
        if left:
            sys.exit(f"FAILED: processes {left} still ran {STOP_WITHIN}s after SIGTERM")
        step(f"every process stopped {took:.1f}s after SIGTERM; none left")
        codes = {name: process.wait() for name, process in processes.items()}
        print(f"    exit codes: {codes}")
    finally:
        supervise.kill_groups(processes.values())
    shutil.rmtree(work)  # kept when the run fails: its logs are there
    step("production run passed")


if __name__ == "__main__":
    main()
