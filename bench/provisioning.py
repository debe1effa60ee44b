"""Provisioning throughput: peering requests made by a simulated customer in a moto server,
confirmed at once as the dialog confirms them, through `services.check_new_peering` and
`services.create_peering` (django-q2 not in sync mode, so they are queued), and taken to
`running` by a real 2-worker cluster (bench/worker.py, which counts its AWS calls); beside
it the floor, bench/floor.py making the same calls for other requests of the same kind
back-to-back. Each round starts from a freshly reset simulator."""

import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from django.conf import settings
from django.db.models import Max
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule

from bench.awscalls import read_counts
from bench.processes import cpu_seconds, free_port, stop, wait_for_port
from core import audit
from core.models import AuditEvent
from demo.aws import SandboxEc2
from peerings import aws, services
from peerings.models import Deployment, PeeringConnection

ROOT = Path(__file__).resolve().parent.parent
PORTS = [1883, 8883]
ROUTE_TABLES = 2
# AWS allows 60 inbound rules per security group by default (and moto enforces it): with
# a rule per peering and port, one deployment holds at most 30 peerings. The confirms are
# spread over deployments of 20 peerings each, as they would be over many customers.
PEERINGS_PER_DEPLOYMENT = 20
RUN_LIMIT_SECONDS = 300
READY_LIMIT_SECONDS = 60


@dataclass
class ProvisioningResult:
    peerings: int
    rounds: int
    portal_seconds: list = field(default_factory=list)
    confirm_seconds: list = field(default_factory=list)
    floor_seconds: list = field(default_factory=list)
    statuses: dict = field(default_factory=dict)
    portal_calls: dict = field(default_factory=dict)
    portal_sends: dict = field(default_factory=dict)
    floor_calls: dict = field(default_factory=dict)
    # CPU seconds summed over the rounds, by who spent them (Linux only).
    portal_cpu: dict = field(default_factory=dict)
    floor_cpu: dict = field(default_factory=dict)

    def add_cpu(self, into, who, seconds):
        if seconds is not None:
            into[who] = into.get(who, 0) + seconds

    def minimal_sequence(self):
        """Calls per peering that provisioning cannot do without (polls come on top)."""
        return {
            "DescribeVpcPeeringConnections": 1,
            "AcceptVpcPeeringConnection": 1,
            "DescribeRouteTables": 1,
            # Read before writing: what is there already is not written again.
            "DescribeSecurityGroups": 1,
            "CreateRoute": ROUTE_TABLES,
            "AuthorizeSecurityGroupIngress": len(PORTS),
        }

    def extra_calls(self):
        """Calls per peering beyond the minimal sequence, polls (repeated describes) apart."""
        made = self.rounds * self.peerings
        minimal = self.minimal_sequence()
        extra = {}
        for operation, count in self.portal_calls.items():
            if operation == "DescribeVpcPeeringConnections":
                continue
            beyond = count / made - minimal.get(operation, 0)
            if beyond > 0:
                extra[operation] = beyond
        for operation, per_peering in minimal.items():
            if self.portal_calls.get(operation, 0) < per_peering * made:
                extra[f"missing {operation}"] = (
                    per_peering - self.portal_calls.get(operation, 0) / made
                )
        return extra

    def polls(self):
        made = self.rounds * self.peerings
        return self.portal_calls.get("DescribeVpcPeeringConnections", 0) / made - 1


@contextlib.contextmanager
def moto_server(out):
    port = free_port()
    log = (out / "moto.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process, 30)
        yield f"http://127.0.0.1:{port}", process
    finally:
        stop(process)
        log.close()


@contextlib.contextmanager
def worker_cluster(out, calls_dir):
    log_path = out / "qcluster.log"
    log = log_path.open("w")
    env = {
        **os.environ,
        "Q_WORKERS": "2",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "BENCH_CALLS_DIR": str(calls_dir),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.worker"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + READY_LIMIT_SECONDS
        while "running." not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker cluster did not start; see {log_path}")
            time.sleep(0.2)
        yield process
    finally:
        stop(process)
        log.close()


def _aws_deployments(organization, name, count, second_octet):
    """`count` deployments whose VPC, two route tables and security group exist in the
    simulator."""
    account_id = settings.VENDOR_HOME_ACCOUNT_ID
    ec2 = SandboxEc2("us-east-1", account_id)
    made = []
    for number in range(count):
        cidr = f"10.{second_octet + number}.0.0/16"
        vpc_id, _tables, group_id = ec2.create_network(cidr, f"{name}-{number}")
        for _ in range(ROUTE_TABLES - 1):
            ec2.ec2.create_route_table(VpcId=vpc_id)
        made.append(
            Deployment.objects.create(
                organization=organization,
                name=f"{name}-{number}",
                plan=Deployment.Plan.DEDICATED,
                region="us-east-1",
                vendor_account_id=account_id,
                vpc_id=vpc_id,
                cidr=cidr,
                security_group_id=group_id,
                service_ports=PORTS,
            )
        )
    return made


@dataclass(frozen=True)
class CustomerRequest:
    deployment: Deployment
    peering_id: str
    account_id: str
    vpc_id: str
    cidr: str


def _customer_requests(deployments, count):
    """The customer's side, as demo.sandbox.create_customer_request plays it (a VPC of its own and a
    peering request to the deployment's VPC, in the sandbox customer account), with one
    client for all of them: building a boto3 client per request would cost more than the
    requests. Request i goes to deployment i // PEERINGS_PER_DEPLOYMENT."""
    account_id = settings.DEMO_CUSTOMER_ACCOUNT_ID
    customer = aws.client("ec2", "us-east-1", account_id)

    def request(i):
        deployment = deployments[i // PEERINGS_PER_DEPLOYMENT]
        cidr = f"172.{16 + i // 256}.{i % 256}.0/24"
        vpc_id = customer.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        peering_id = SandboxEc2(deployment.region, account_id, customer).request_peering(
            vpc_id, deployment.vpc_id, deployment.vendor_account_id, deployment.region
        )
        return CustomerRequest(deployment, peering_id, account_id, vpc_id, cidr)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(request, range(count)))


def _run_floor(out, requests, calls_dir):
    spec = {
        "region": "us-east-1",
        "ports": PORTS,
        "requests": [
            {
                "peering_id": r.peering_id,
                "cidr": r.cidr,
                "vpc_id": r.deployment.vpc_id,
                "security_group_id": r.deployment.security_group_id,
            }
            for r in requests
        ],
    }
    spec_path = out / "floor-spec.json"
    spec_path.write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-m", "bench.floor", str(spec_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_SECONDS,
        env={**os.environ, "BENCH_CALLS_DIR": str(calls_dir)},
    )
    if done.returncode:
        raise RuntimeError(f"the floor script failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)["seconds"]


def _run_portal(requests, owner):
    """Confirm every request, then wait for the last to leave pending/provisioning.
    Returns (seconds from the first confirm to the last `running`, seconds confirming)."""
    actor = audit.actor_for_user(owner, AuditEvent.Source.WEB, "127.0.0.1")
    started = timezone.now()
    with audit.acting_as(actor):
        for request in requests:
            # As the dialog does: checked against AWS first, then recorded.
            verified = services.check_new_peering(
                request.deployment,
                peering_id=request.peering_id,
                account_id=request.account_id,
                vpc_id=request.vpc_id,
            )
            services.create_peering(request.deployment, verified=verified, user=owner)
    confirmed = timezone.now()
    peerings = PeeringConnection.objects.filter(deployment__in={r.deployment.pk for r in requests})
    deadline = time.monotonic() + RUN_LIMIT_SECONDS
    while peerings.filter(status__in=PeeringConnection.TRANSITIONAL).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"peerings still pending after {RUN_LIMIT_SECONDS}s (see bench/out/qcluster.log)"
            )
        time.sleep(0.2)
    failed = peerings.exclude(status=PeeringConnection.Status.RUNNING)
    if failed.exists():  # a fast run of failures is no result
        raise RuntimeError(
            f"{failed.count()} peerings did not reach running, e.g.: {failed.first().status_reason}"
        )
    last = (
        peerings.filter(status=PeeringConnection.Status.RUNNING).aggregate(
            last=Max("status_changed_at")
        )["last"]
        or timezone.now()
    )
    return (last - started).total_seconds(), (confirmed - started).total_seconds()


def _delta(after, before):
    return None if after is None or before is None else after - before


def _own_cpu(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _measure_floor(result, out, requests, calls_dir, moto):
    moto_before, script_before = cpu_seconds(moto.pid), _own_cpu(resource.RUSAGE_CHILDREN)
    result.floor_seconds.append(_run_floor(out, requests, calls_dir))
    result.add_cpu(result.floor_cpu, "script", _own_cpu(resource.RUSAGE_CHILDREN) - script_before)
    result.add_cpu(result.floor_cpu, "moto", _delta(cpu_seconds(moto.pid), moto_before))


def _measure_portal(result, requests, owner, cluster, moto):
    moto_before, cluster_before = cpu_seconds(moto.pid), cpu_seconds(cluster.pid)
    own_before = _own_cpu(resource.RUSAGE_SELF)
    seconds, confirming = _run_portal(requests, owner)
    result.portal_seconds.append(seconds)
    result.confirm_seconds.append(confirming)
    result.add_cpu(result.portal_cpu, "cluster", _delta(cpu_seconds(cluster.pid), cluster_before))
    # This process: the confirms, and a little polling while the cluster works.
    result.add_cpu(result.portal_cpu, "confirming", _own_cpu(resource.RUSAGE_SELF) - own_before)
    result.add_cpu(result.portal_cpu, "moto", _delta(cpu_seconds(moto.pid), moto_before))
    for status in PeeringConnection.objects.filter(
        deployment__in={r.deployment.pk for r in requests}
    ).values_list("status", flat=True):
        result.statuses[status] = result.statuses.get(status, 0) + 1


# moto throttles nothing, and the floor keeps to no budget: 200 peerings at once make 400
# CreateRoute calls, 80 s at AWS's refill of 5 a second, so with AWS's sizes this part would
# time the budget (part 5 does that) instead of the portal's own work beside the floor.
# Here the budget is far larger than any round needs, in this process and in the cluster's.
UNBOUNDED_BUDGET = "1000000/1000000"
BUDGET_SETTINGS = (
    "AWS_BUDGET_NON_MUTATING",
    "AWS_BUDGET_UNFILTERED_NON_MUTATING",
    "AWS_BUDGET_MUTATING",
    "AWS_BUDGET_RESOURCE_INTENSIVE",
)


@contextlib.contextmanager
def budget_that_never_binds():
    from django.test import override_settings

    before = {name: os.environ.get(name) for name in BUDGET_SETTINGS}
    os.environ.update(dict.fromkeys(BUDGET_SETTINGS, UNBOUNDED_BUDGET))
    bucket = (1_000_000.0, 1_000_000.0)
    try:
        with override_settings(**dict.fromkeys(BUDGET_SETTINGS, bucket), AWS_BUDGET_ACTIONS={}):
            yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(world, out, *, peerings, rounds, progress):
    with budget_that_never_binds():
        return _run(world, out, peerings=peerings, rounds=rounds, progress=progress)


def _run(world, out, *, peerings, rounds, progress):
    result = ProvisioningResult(peerings=peerings, rounds=rounds)
    portal_calls_dir, floor_calls_dir = out / "calls-portal", out / "calls-floor"
    for directory in (portal_calls_dir, floor_calls_dir):
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("calls-*.txt"):
            stale.unlink()
    # The reconcile schedule would compare every peering of the database with AWS while
    # we measure; the benchmark's database does not need it.
    Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))
    get_broker().purge_queue()
    closed_endpoint = os.environ["AWS_ENDPOINT_URL"]
    with moto_server(out) as (url, moto):
        os.environ["AWS_ENDPOINT_URL"] = url
        aws._home_client.cache_clear()  # cached clients still point at the old endpoint
        with worker_cluster(out, portal_calls_dir) as cluster:
            for number in range(1, rounds + 1):
                httpx.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()
                progress(f"round {number}/{rounds}: {2 * peerings} customer requests in moto")
                deployments = -(-peerings // PEERINGS_PER_DEPLOYMENT)
                portal_requests = _customer_requests(
                    _aws_deployments(world.organization, f"portal-{number}", deployments, 40),
                    peerings,
                )
                floor_requests = _customer_requests(
                    _aws_deployments(world.organization, f"floor-{number}", deployments, 80),
                    peerings,
                )
                progress(f"round {number}/{rounds}: floor (plain boto3)")
                _measure_floor(result, out, floor_requests, floor_calls_dir, moto)
                progress(f"round {number}/{rounds}: portal (2-worker django-q2 cluster)")
                _measure_portal(result, portal_requests, world.owner, cluster, moto)
    os.environ["AWS_ENDPOINT_URL"] = closed_endpoint
    aws._home_client.cache_clear()
    calls, sends = read_counts(portal_calls_dir)
    result.portal_calls, result.portal_sends = dict(calls), dict(sends)
    result.floor_calls = dict(read_counts(floor_calls_dir)[0])
    return result
