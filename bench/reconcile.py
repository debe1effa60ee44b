"""Reconcile at scale: 10,000 running peerings over 500 deployments (20 each, two route
tables, two service ports) in a moto server that answers DescribeVpcPeeringConnections as
EC2 does (bench/reconcile_moto.py), reconciled by the portal's own batches
(`services.reconcile_batches` and `reconcile_deployments`, one after the other in this
process, as `manage.py reconcile` runs them) beside the floor, bench/reconcile_floor.py
making the floor's reads back-to-back. First clean, then with 1% drift of each kind: a
route gone, a rule gone, a connection deleted on the customer's side. AWS calls counted by
operation with botocore's before-call hook."""

import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from django.conf import settings

from bench.awscalls import read_counts
from bench.processes import free_port, stop, wait_for_port
from core import audit
from peerings import aws, services
from peerings.models import Deployment, PeeringConnection

ROOT = Path(__file__).resolve().parent.parent
# A region of its own: the pages' deployments (us-east-1, made-up VPC IDs) stay out of it,
# and the portal's batches never mix regions.
REGION = "eu-west-1"
PORTS = [1883, 8883]
PER_DEPLOYMENT = 20
BUILD_LIMIT_SECONDS = 1800
RUN_LIMIT_SECONDS = 1800
READS = ("DescribeVpcPeeringConnections", "DescribeRouteTables", "DescribeSecurityGroups")


@dataclass
class Measured:
    name: str
    portal_seconds: list = field(default_factory=list)
    floor_seconds: list = field(default_factory=list)
    portal_calls: Counter = field(default_factory=Counter)  # summed over the rounds
    floor_calls: Counter = field(default_factory=Counter)
    expected_writes: dict = field(default_factory=dict)  # per round
    report: object = None
    drifted: int = 0

    @property
    def rounds(self):
        return len(self.portal_seconds)

    def reads(self):
        """{operation: (portal per round, floor per round)} for the floor's reads."""
        return {
            op: (self.portal_calls[op] / self.rounds, self.floor_calls[op] / self.rounds)
            for op in READS
        }

    def writes(self):
        return {op: n / self.rounds for op, n in self.portal_calls.items() if op not in READS and n}


class Counting:
    """before-call hook on the portal's (cached) EC2 client: calls by operation."""

    def __init__(self):
        self.calls = Counter()

    def note(self, event_name, **kwargs):
        self.calls[event_name.split(".", 2)[2]] += 1


def run(world, out, *, peerings, rounds, progress):
    deployments = max(1, peerings // PER_DEPLOYMENT)
    spec = {
        "vendor": settings.VENDOR_HOME_ACCOUNT_ID,
        "customer": settings.DEMO_CUSTOMER_ACCOUNT_ID,
        "region": REGION,
        "deployments": deployments,
        "peerings_per_deployment": PER_DEPLOYMENT,
        "ports": PORTS,
    }
    spec_path, world_path = out / "reconcile-spec.json", out / "reconcile-world.json"
    spec_path.write_text(json.dumps(spec))
    world_path.unlink(missing_ok=True)
    port = free_port()
    log = (out / "reconcile-moto.log").open("w")
    progress(f"reconcile: {deployments * PER_DEPLOYMENT:,} peerings built in a moto server")
    moto = subprocess.Popen(
        [sys.executable, "-m", "bench.reconcile_moto", str(spec_path), str(world_path), str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    closed_endpoint = os.environ["AWS_ENDPOINT_URL"]
    try:
        deadline = time.monotonic() + BUILD_LIMIT_SECONDS
        while not world_path.exists() or not world_path.stat().st_size:
            if moto.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the moto world was not built; see {log.name}")
            time.sleep(0.5)
        wait_for_port(port, moto, 30)
        time.sleep(0.5)  # the world file is complete once its writer has closed it
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        aws._home_client.cache_clear()
        return _measure(world, out, json.loads(world_path.read_text()), rounds, progress)
    finally:
        os.environ["AWS_ENDPOINT_URL"] = closed_endpoint
        aws._home_client.cache_clear()
        stop(moto)
        log.close()


def _rows(organization, built):
    made = []
    for number, network in enumerate(built):
        deployment = Deployment.objects.create(
            organization=organization,
            name=f"reconcile-{number}",
            plan=Deployment.Plan.DEDICATED,
            region=REGION,
            vendor_account_id=settings.VENDOR_HOME_ACCOUNT_ID,
            vpc_id=network["vpc_id"],
            cidr=network["cidr"],
            security_group_id=network["security_group_id"],
            service_ports=PORTS,
        )
        made.append(deployment)
        PeeringConnection.objects.bulk_create(
            PeeringConnection(
                deployment=deployment,
                peering_id=p["peering_id"],
                customer_account_id=settings.DEMO_CUSTOMER_ACCOUNT_ID,
                customer_vpc_id=p["customer_vpc_id"],
                customer_cidrs=[p["cidr"]],
                status=PeeringConnection.Status.RUNNING,
            )
            for p in network["peerings"]
        )
    return made


def _portal(ours, counting):
    """The reconcile as `services.reconcile` runs it, limited to this part's batches."""
    counting.calls = Counter()
    started = time.monotonic()
    report = services.ReconcileReport()
    with audit.acting_as(audit.SYSTEM):
        report.add(services.requeue_stuck())
        for deployment_ids in services.reconcile_batches():
            if deployment_ids[0] in ours:
                report.add(services.reconcile_deployments(deployment_ids))
    return time.monotonic() - started, counting.calls, report


def _floor(out, built):
    calls_dir = out / "calls-reconcile-floor"
    calls_dir.mkdir(parents=True, exist_ok=True)
    for stale in calls_dir.glob("calls-*.txt"):
        stale.unlink()
    spec_path = out / "reconcile-floor-spec.json"
    spec_path.write_text(
        json.dumps(
            {
                "region": REGION,
                "deployments": [
                    {"vpc_id": n["vpc_id"], "security_group_id": n["security_group_id"]}
                    for n in built
                ],
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "bench.reconcile_floor", str(spec_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_SECONDS,
        env={**os.environ, "BENCH_CALLS_DIR": str(calls_dir)},
    )
    if done.returncode:
        raise RuntimeError(f"the reconcile floor script failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)["seconds"], read_counts(calls_dir)[0]


def _drift(built):
    """1% of the peerings of each kind, spread over the deployments: returns how many of
    each and the writes they need (a route per table, a rule per port)."""
    ec2 = boto3.session.Session().client("ec2", region_name=REGION)  # not the counted one
    everything = [(n, p) for n in built for p in n["peerings"]]
    step = 100
    route_gone = everything[0::step]
    rule_gone = everything[step // 3 :: step]
    deleted = everything[2 * step // 3 :: step]
    for network, peering in route_gone:
        table = ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [network["vpc_id"]]}]
        )["RouteTables"][0]["RouteTableId"]
        ec2.delete_route(RouteTableId=table, DestinationCidrBlock=peering["cidr"])
    for network, peering in rule_gone:
        ec2.revoke_security_group_ingress(
            GroupId=network["security_group_id"],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": PORTS[-1],
                    "ToPort": PORTS[-1],
                    "IpRanges": [{"CidrIp": peering["cidr"]}],
                }
            ],
        )
    for _network, peering in deleted:
        # Either owner may delete a peering connection; AWS then reports it `deleted` to
        # both, which is all the reconcile sees.
        ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=peering["peering_id"])
    writes = {
        "CreateRoute": len(route_gone),
        "AuthorizeSecurityGroupIngress": len(rule_gone),
        "RevokeSecurityGroupIngress": len(PORTS) * len(deleted),
        "DeleteRoute": 2 * len(deleted),  # two route tables per deployment
    }
    return len(route_gone) + len(rule_gone) + len(deleted), writes


def _measure(world, out, built, rounds, progress):
    ours = {d.pk for d in _rows(world.organization, built)}
    counting = Counting()
    aws._home_client("ec2", REGION, False).meta.events.register(
        "before-call", counting.note, unique_id="bench-reconcile-calls"
    )
    clean = Measured("clean")
    for number in range(1, rounds + 1):
        progress(f"reconcile, clean, round {number}/{rounds}: floor (plain boto3)")
        seconds, calls = _floor(out, built)
        clean.floor_seconds.append(seconds)
        clean.floor_calls.update(calls)
        progress(f"reconcile, clean, round {number}/{rounds}: portal")
        seconds, calls, clean.report = _portal(ours, counting)
        clean.portal_seconds.append(seconds)
        clean.portal_calls.update(calls)
    progress("reconcile: 1% drift of each kind")
    drift = Measured("1% drift of each kind")
    drift.drifted, drift.expected_writes = _drift(built)
    seconds, calls = _floor(out, built)
    drift.floor_seconds.append(seconds)
    drift.floor_calls.update(calls)
    progress("reconcile, drift: portal")
    seconds, calls, drift.report = _portal(ours, counting)
    drift.portal_seconds.append(seconds)
    drift.portal_calls.update(calls)
    peerings = sum(len(n["peerings"]) for n in built)
    return peerings, len(built), [clean, drift]


def floor_pages(peerings):
    return math.ceil(peerings / aws.PEERINGS_PAGE_SIZE)


def add_rows(table, peerings, deployments, measured):
    """This part's section of the bench table (bench/run.py's Table)."""
    import statistics

    floor = {
        "DescribeVpcPeeringConnections": floor_pages(peerings),
        "DescribeRouteTables": deployments,
        "DescribeSecurityGroups": deployments,
    }
    table.section(
        f"4. Reconcile: {peerings:,} running peerings over {deployments} deployments, moto "
        f"server on loopback (EC2's paging and filter), the portal's batches in-process"
    )
    for m in measured:
        portal = statistics.median(m.portal_seconds)
        floor_seconds = statistics.median(m.floor_seconds)
        table.add(
            f"{m.name.capitalize()}: portal, the reconcile's batches",
            f"{portal:.1f} s (median of {m.rounds}); {m.report}",
        )
        table.add(f"{m.name.capitalize()}: floor, plain boto3 reads", f"{floor_seconds:.1f} s")
        table.check(
            f"{m.name.capitalize()}: portal / floor, wall",
            f"{portal / floor_seconds:.2f}",
            portal <= 1.5 * floor_seconds,
            "≤ 1.50",
        )
        reads = m.reads()
        worst = max(
            portal_calls / max(floor[op], floor_calls)
            for op, (portal_calls, floor_calls) in reads.items()
        )
        table.check(
            f"{m.name.capitalize()}: AWS reads by operation, portal / floor",
            ", ".join(
                f"{op} {portal_calls:g} / {max(floor[op], floor_calls):g}"
                for op, (portal_calls, floor_calls) in reads.items()
            )
            + f" (worst {worst:.2f})",
            worst <= 1.05,
            "≤ 1.05 each",
        )
        writes = m.writes()
        table.check(
            f"{m.name.capitalize()}: AWS writes, made / the drift's ({m.drifted} drifted items)",
            ", ".join(f"{op} {n:g} / {m.expected_writes.get(op, 0)}" for op, n in writes.items())
            or "none / none",
            writes == {op: n for op, n in m.expected_writes.items() if n},
            "equal",
        )
