import os
import uuid

import httpx
import pytest
from django.contrib.auth import get_user_model

from core.models import Membership, Organization
from demo.aws import SandboxEc2
from peerings import aws
from peerings.models import Deployment

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_server():
    """One moto server per test process, reached over real HTTP like AWS itself."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in [*FAKE_AWS_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(FAKE_AWS_ENV, AWS_ENDPOINT_URL=url)
    aws._home_client.cache_clear()
    yield url
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    aws._home_client.cache_clear()


@pytest.fixture
def demo_mode(settings):
    """DEMO_MODE on, as `make run` has it: the demo app installed (its commands, its
    template) and its URLs routed. Without this the suite runs as production does."""
    settings.DEMO_MODE = True
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "demo"]
    settings.ROOT_URLCONF = "tests.urls_in_demo_mode"


@pytest.fixture
def simulator(moto_server):
    """A clean simulated AWS for this test."""
    httpx.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    return moto_server


@pytest.fixture(autouse=True)
def _tasks_run_inline(monkeypatch):
    """Unit tests run queued tasks inline (django-q2 re-raises their exceptions);
    tests with a real cluster start one themselves."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def organization(db):
    return Organization.objects.create(name="Acme")


def _member(organization, username, role):
    user = get_user_model().objects.create_user(username, password="pw-" + username)
    Membership.objects.create(user=user, organization=organization, role=role)
    return user


@pytest.fixture
def owner(organization):
    return _member(organization, "olivia", Membership.Role.OWNER)


@pytest.fixture
def member(organization):
    return _member(organization, "mark", Membership.Role.MEMBER)


@pytest.fixture
def viewer(organization):
    return _member(organization, "vera", Membership.Role.VIEWER)


@pytest.fixture
def outsider(db):
    other = Organization.objects.create(name="Other Corp")
    return _member(other, "oscar", Membership.Role.OWNER)


def make_deployment(organization, **overrides):
    values = {
        "name": "orders",
        "plan": Deployment.Plan.DEDICATED,
        "region": "us-east-1",
        "vendor_account_id": "123456789012",
        "vpc_id": "vpc-0a1b2c3d4e5f60718",
        "cidr": "10.20.0.0/16",
        "security_group_id": "sg-0a1b2c3d4e5f60718",
        "service_ports": [1883, 8883],
    }
    values.update(overrides)
    return Deployment.objects.create(organization=organization, **values)


@pytest.fixture
def deployment(organization):
    """A dedicated deployment with made-up AWS IDs, for tests that never reach AWS."""
    return make_deployment(organization)


@pytest.fixture
def aws_deployment(organization, simulator):
    """A dedicated deployment whose VPC, route tables and security group exist in moto."""
    ec2 = SandboxEc2("us-east-1", "123456789012")
    vpc_id, _tables, group_id = ec2.create_network("10.20.0.0/16", "orders")
    # A second route table, as a real deployment with private and public subnets has.
    ec2.ec2.create_route_table(VpcId=vpc_id)
    return make_deployment(organization, vpc_id=vpc_id, security_group_id=group_id)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _no_cluster_left_by_a_dead_run():
    from tests.test_worker_cluster import kill_clusters_left_by_dead_runs

    kill_clusters_left_by_dead_runs()


@pytest.fixture(scope="session", autouse=True)
def _cache_keys_private_to_this_test_process():
    """With REDIS_URL the cache is one Redis shared by both xdist workers and kept between
    runs (CI reuses the machine's Redis): without a prefix of its own, one process's login
    counters could lock or skew another's test. Never cache.clear() instead: the task broker
    lives in the same Redis."""
    from django.conf import settings
    from django.test import override_settings

    prefix = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    private = {name: {**conf, "KEY_PREFIX": prefix} for name, conf in settings.CACHES.items()}
    with override_settings(CACHES=private):
        yield


@pytest.fixture(autouse=True)
def _no_login_lockout_carried_over():
    """Failed logins counted by one test (client address 127.0.0.1) must not lock the next."""
    from django.core.cache import cache

    from core import login_guard

    cache.delete(login_guard._keys("", "127.0.0.1")[1][0])


@pytest.fixture(autouse=True)
def _no_aws_call_inside_a_transaction(monkeypatch):
    """DESIGN §2: never call AWS inside an open database transaction (it would hold locks
    for as long as AWS takes, and roll back a record of a change AWS did make). Every boto3
    call in every test is checked against the transaction depth the test started with."""
    from botocore.client import BaseClient
    from django.db import connection

    def depth():
        return connection.in_atomic_block, len(connection.savepoint_ids)

    start = depth()
    real = BaseClient._make_api_call

    def checked(self, operation, params):
        assert depth() == start, f"AWS {operation} called inside a database transaction"
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", checked)


def confirmed(deployment, cidr="172.16.8.0/24", user=None):
    """A customer request made in the simulator and saved as pending, the way the dialog
    saves it (the worker has not run)."""
    from demo import sandbox
    from peerings.models import PeeringConnection

    request = sandbox.create_customer_request(deployment, cidr=cidr)
    return PeeringConnection.objects.create(
        deployment=deployment,
        peering_id=request.peering_id,
        customer_account_id=request.account_id,
        customer_vpc_id=request.vpc_id,
        customer_cidrs=[request.cidr],
        created_by=user,
    )


def provisioned(deployment, cidr="172.16.8.0/24"):
    """A peering the worker has taken to running, routes and rules in the simulator."""
    from peerings import services

    peering = confirmed(deployment, cidr)
    assert services.provision(peering.pk) == "running"
    peering.refresh_from_db()
    return peering


def event_text(event):
    """Every stored value of an audit event, text and JSON alike, as one string to search."""
    import json

    from core.models import AuditEvent

    values = []
    for field in AuditEvent._meta.concrete_fields:
        value = getattr(event, field.attname)
        values.append(
            json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
        )
    return "\n".join(values)
