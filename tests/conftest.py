"""The fixtures every test module may use, found by pytest (never imported): the people
(owner, member, viewer, outsider of the organization; support and superuser staff), the
deployments, AWS (the moto server, or a closed port), a real worker cluster, a webhook
receiver; and the guards every test runs under. Shared helpers are in tests/support/."""

import os
import uuid

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import translation

from core.models import Membership, Organization
from demo.aws import SandboxEc2
from peerings import aws
from tests.support.api import ApiClient, make_key
from tests.support.aws import REGION, VENDOR
from tests.support.browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS
from tests.support.cluster import (
    kill_clusters_left_by_dead_runs,
    start_cluster,
    stop_cluster,
    use_private_queue,
)
from tests.support.factories import make_deployment
from tests.support.webhooks import PUBLIC_IPV4, PUBLIC_IPV6, fake_dns, http_server

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


@pytest.fixture
def aws_unreachable(monkeypatch, settings):
    """AWS at an address where nothing listens, with one short attempt per call (again:
    an earlier test in this process may have pointed it at the simulator)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")  # so the failure is the connection, not credentials
    settings.AWS_MAX_ATTEMPTS = 1
    settings.AWS_CONNECT_TIMEOUT = 1
    settings.AWS_READ_TIMEOUT = 1
    aws._home_client.cache_clear()
    yield
    aws._home_client.cache_clear()


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


@pytest.fixture
def support(db):
    """A staff member of the Support group, as the vendor's support engineers are."""
    user = get_user_model().objects.create_user("sam", password="pw-sam", is_staff=True)
    user.groups.add(Group.objects.get(name="Support"))
    return user


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", password="pw-root")


@pytest.fixture
def deployment(organization):
    """A dedicated deployment with made-up AWS IDs, for tests that never reach AWS."""
    return make_deployment(organization)


@pytest.fixture
def aws_deployment(organization, simulator):
    """A dedicated deployment whose VPC, route tables and security group exist in moto."""
    ec2 = SandboxEc2(REGION, VENDOR)
    vpc_id, _tables, group_id = ec2.create_network("10.20.0.0/16", "orders")
    # A second route table, as a real deployment with private and public subnets has.
    ec2.ec2.create_route_table(VpcId=vpc_id)
    return make_deployment(organization, vpc_id=vpc_id, security_group_id=group_id)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _no_cluster_left_by_a_dead_run():
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


@pytest.fixture(scope="session", autouse=True)
def _static_files_without_collectstatic():
    """Production serves hashed names from collectstatic's manifest; the suite renders pages
    without running collectstatic first, so it uses plain names (tests/test_static_files.py
    checks the production storage against a real collectstatic)."""
    from django.conf import settings
    from django.test import override_settings

    plain = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=plain):
        yield


@pytest.fixture(autouse=True)
def _no_login_lockout_carried_over(request):
    """Failed logins counted by one test (client address 127.0.0.1) must not lock the next.
    Only in a test with the database: without Redis the cache is the database's, and a
    test without it counted no login."""
    from django.core.cache import cache

    from core import login_guard

    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames or (marker and marker.kwargs.get("transaction")):
        request.getfixturevalue("transactional_db")
    elif "db" in request.fixturenames or marker:
        request.getfixturevalue("db")
    else:
        return
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


@pytest.fixture
def cluster(monkeypatch, tmp_path):
    """A real `manage.py qcluster` on this process's own queue (tests.support.cluster):
    (its process, its log file open for reading)."""
    use_private_queue(monkeypatch)
    log = open(tmp_path / "qcluster.log", "w+")  # noqa: SIM115
    process = start_cluster(log)
    yield process, log
    stop_cluster(process)
    log.close()


@pytest.fixture
def receiver():
    """A real HTTP server on 127.0.0.1 that webhooks can be sent to (tests.support.webhooks)."""
    with http_server() as server:
        yield server


@pytest.fixture
def local_network(settings):
    """What local development turns on, for this test only: http, and loopback."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True


@pytest.fixture
def public_dns(monkeypatch):
    """hooks.example.com and other.example.com resolve to public addresses; the names
    looked up, in order."""
    return fake_dns(
        monkeypatch,
        {"hooks.example.com": [PUBLIC_IPV4, PUBLIC_IPV6], "other.example.com": [PUBLIC_IPV4]},
    )


@pytest.fixture
def browser_page(live_server, monkeypatch):
    """A page of Debian's Chromium (1280x1000), for tests against the live server."""
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API runs an event loop in this thread; the live server's ORM calls
    # happen in their own thread, this test's ORM calls are plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(20_000)
        # expect() has its own 5 s default; a loaded 2-core box needs the same margin.
        expect.set_options(timeout=20_000)
        yield page
        browser.close()


@pytest.fixture
def chinese_browser_page(live_server, monkeypatch):
    """A page of Debian's Chromium whose browser speaks Chinese (locale zh-CN: its
    Accept-Language and navigator.language), 1400x900."""
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # as browser_page, above
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        expect.set_options(timeout=20_000)
        yield page
        browser.close()


@pytest.fixture(autouse=True)
def _default_language_between_tests():
    """A request in Chinese leaves Chinese active in this thread (LocaleMiddleware never
    deactivates it): the next test starts in the default language again."""
    yield
    translation.deactivate()


@pytest.fixture
def api_key(organization, owner):
    """A member key of the organization, made by its owner: (key, secret)."""
    return make_key(organization, owner)


@pytest.fixture
def api(api_key):
    """The API as the member key above calls it (tests.support.api.ApiClient)."""
    return ApiClient(api_key[1])
