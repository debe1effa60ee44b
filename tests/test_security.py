"""Hostile users: IDOR and CSRF sweeps generated from the URL conf (a new view cannot
escape them), login lockout, security headers, and `check --deploy` under production
settings."""

import ipaddress
import subprocess
import sys

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from api.models import ApiKey
from core import login_guard
from core.models import AuditEvent, Membership, Organization
from peerings.models import PeeringConnection, Resource
from tests.support.api import make_key
from tests.support.env import ROOT, SETTINGS_FILE, production_env
from tests.support.factories import make_deployment, make_peering, make_resource, provisioned
from tests.support.routes import customer_routes, scoped_routes
from webhooks import services as webhook_services
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

PEERING_ADMIN = "/admin/peerings/peeringconnection/"


@pytest.fixture
def world(organization, owner):
    """Two organizations with one of everything each."""
    other_org = Organization.objects.create(name="Victim Corp")
    rows = {}
    for org, tag in ((organization, 1), (other_org, 2)):
        deployment = make_deployment(org, name=f"d{tag}")
        peering = make_peering(deployment, "failed", n=tag, retryable=True)
        running = make_peering(deployment, "running", n=tag + 10, cidr=f"172.17.{tag}.0/24")
        resource = make_resource(running, "db", host=f"172.17.{tag}.9")
        endpoint = webhook_services.create_endpoint(
            org, url="https://hooks.example.com/", event_types=["peering.running"]
        )
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event_type="webhook.test", body="{}", status="failed"
        )
        key, _secret = make_key(org, owner)
        rows[tag] = {
            "key_pk": key.pk,
            "pk": deployment.pk,
            "peering_pk": peering.pk,
            "resource_pk": resource.pk,
            "organization_pk": org.pk,
            "endpoint_pk": endpoint.pk,
            "delivery_pk": delivery.pk,
        }
    return rows


def kwargs_for(converters, rows):
    unknown = set(converters) - set(rows)
    assert not unknown, (
        f"route takes {unknown}: teach the IDOR sweep which object those name, so the route "
        "is checked with another organization's IDs"
    )
    return {name: rows[name] for name in converters}


def test_the_sweep_sees_the_routes_it_must(demo_mode):
    names = {name for name, _ in scoped_routes()}
    assert {
        "deployment-detail",
        "peering-new",
        "peering-row",
        "peering-retry",
        "peering-delete",
        "resource-new",
        "resource-delete",
        "peering-demo-request",
    } <= names


# The sweeps run in demo mode, so that the demo's own route is swept with the others.


def test_every_route_gives_404_for_another_organizations_ids(client, owner, world, demo_mode):
    client.force_login(owner)
    theirs = world[2]
    mixed = {
        **world[1],
        "peering_pk": theirs["peering_pk"],
        "resource_pk": theirs["resource_pk"],
        "endpoint_pk": theirs["endpoint_pk"],
        "delivery_pk": theirs["delivery_pk"],
        "key_pk": theirs["key_pk"],
    }

    def state():
        return (
            list(PeeringConnection.objects.order_by("pk").values_list("pk", "status")),
            Resource.objects.count(),
            list(WebhookEndpoint.objects.order_by("pk").values_list("pk", "secret")),
            list(WebhookDelivery.objects.order_by("pk").values_list("pk", "status")),
            list(ApiKey.objects.order_by("pk").values_list("pk", "revoked_at")),
        )

    before = state()
    answers = {}  # (route name, URL): {method: status}, across GET and POST
    for name, converters in scoped_routes():
        for ids in (theirs, mixed):
            kwargs = kwargs_for(converters, ids)
            if kwargs == kwargs_for(converters, world[1]):
                continue  # only our own IDs left: nothing foreign to check
            url = reverse(name, kwargs=kwargs)
            for method in ("get", "post"):
                status = getattr(client, method)(url).status_code
                assert status in (404, 405), f"{method.upper()} {url} ({name}) gave {status}"
                answers.setdefault((name, url), {})[method.upper()] = status
    # A URL that refuses every method it is asked with has not had its IDs checked at all.
    unchecked = {route: found for route, found in answers.items() if 404 not in found.values()}
    assert not unchecked, f"no method gave 404, so the IDs went unchecked: {unchecked}"
    assert {name for name, _url in answers} == {name for name, _ in scoped_routes()}
    assert before == state()


def test_every_post_requires_a_csrf_token(owner, world, demo_mode):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    refused = 0
    for name, converters in customer_routes():
        url = reverse(name, kwargs=kwargs_for(converters, world[1]))
        status = client.post(url, {"name": "x"}).status_code
        assert status in (403, 405), f"POST {url} ({name}) without a CSRF token gave {status}"
        refused += status == 403
    assert refused >= 6
    assert Resource.objects.filter(name="x").count() == 0


# --- CSRF on what the sweep leaves out: login, logout and the admin ---


def with_token(client, data=None):
    """`data` with the token a page of ours would have put in its form."""
    return {**(data or {}), "csrfmiddlewaretoken": client.cookies["csrftoken"].value}


@pytest.mark.parametrize("route", ["login", "admin:login"])
def test_a_login_without_a_csrf_token_is_refused(django_user_model, route):
    django_user_model.objects.create_user("staff", password="pw-staff", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    url = reverse(route)
    assert client.get(url).status_code == 200  # the form, and the CSRF cookie with it
    credentials = {"username": "staff", "password": "pw-staff"}
    assert client.post(url, credentials).status_code == 403
    assert "_auth_user_id" not in client.session
    assert not AuditEvent.objects.filter(action="user.logged_in").exists()
    # The same POST with the token logs in: the refusal was the missing token's.
    assert client.post(url, with_token(client, credentials)).status_code == 302
    assert AuditEvent.objects.filter(action="user.logged_in").count() == 1


@pytest.mark.parametrize("route", ["logout", "admin:logout"])
def test_a_logout_without_a_csrf_token_is_refused(django_user_model, route):
    staff = django_user_model.objects.create_user("staff", password="pw-staff", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    # A page with the logout button, which sets the CSRF cookie.
    assert client.get(reverse("deployment-list")).status_code == 200
    assert client.post(reverse(route)).status_code == 403
    assert client.session.get("_auth_user_id") == str(staff.pk)
    assert not AuditEvent.objects.filter(action="user.logged_out").exists()
    assert client.post(reverse(route), with_token(client)).status_code in (200, 302)
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="user.logged_out").count() == 1


def test_an_admin_action_without_a_csrf_token_is_refused(support, aws_deployment):
    peering = provisioned(aws_deployment)
    client = Client(enforce_csrf_checks=True)
    client.force_login(support)
    changelist = client.get(PEERING_ADMIN)  # offers the action, and sets the CSRF cookie
    assert 'value="resync_from_aws"' in changelist.content.decode()
    action = {"action": "resync_from_aws", "_selected_action": [peering.pk]}
    assert client.post(PEERING_ADMIN, action).status_code == 403
    assert not AuditEvent.objects.filter(action__startswith="peering.resync").exists()
    # The same POST with the token re-syncs: the refusal was the missing token's.
    assert client.post(PEERING_ADMIN, with_token(client, action)).status_code == 302
    assert AuditEvent.objects.get(action="peering.resynced").actor_id == support.pk


# --- login lockout ---


def forget_failures(username, *ips):
    # Never cache.clear(): with REDIS_URL the cache shares Redis with the task broker.
    for ip in ips:
        cache.delete_many([key for key, _limit in login_guard._keys(username, ip)])


@pytest.fixture
def fresh_cache():
    ips = ("198.51.100.7", "203.0.113.66", "10.0.0.5", None)  # None: by username alone
    for username in ("olivia", "staff"):
        forget_failures(username, *ips)
    yield
    for username in ("olivia", "staff"):
        forget_failures(username, *ips)


def attempt(client, username, password, ip="198.51.100.7", **headers):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip, **headers
    )


def test_repeated_failures_lock_the_login_and_are_audited(client, owner, settings, fresh_cache):
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        assert attempt(client, "olivia", "wrong").status_code == 200
    response = attempt(client, "olivia", "pw-olivia")  # the right password, too late
    assert response.status_code == 200
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="user.login_locked").count() == 1
    assert AuditEvent.objects.filter(action="user.login_failed").count() == 3


def test_a_lockout_from_one_address_does_not_lock_the_user_out_elsewhere(
    client, owner, settings, fresh_cache
):
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        attempt(client, "olivia", "wrong", ip="203.0.113.66")
    assert attempt(client, "olivia", "pw-olivia", ip="198.51.100.7").status_code == 302


def test_the_lockout_ends_after_its_window(client, owner, settings, fresh_cache):
    settings.LOGIN_MAX_FAILURES = 2
    attempt(client, "olivia", "wrong")
    attempt(client, "olivia", "wrong")
    assert "Too many" in attempt(client, "olivia", "pw-olivia").content.decode()
    forget_failures("olivia", "198.51.100.7")  # what the expiry of the window does
    assert attempt(client, "olivia", "pw-olivia").status_code == 302


def test_a_new_lockout_after_the_window_is_audited_again(client, owner, settings, fresh_cache):
    settings.LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        attempt(client, "olivia", "wrong")
    attempt(client, "olivia", "pw-olivia")  # refused while locked: not a second lockout
    assert AuditEvent.objects.filter(action="user.login_locked").count() == 1
    forget_failures("olivia", "198.51.100.7")  # the window ends
    for _ in range(2):
        attempt(client, "olivia", "wrong")
    assert AuditEvent.objects.filter(action="user.login_locked").count() == 2


def test_failures_counted_past_the_limit_record_the_lockout_once(owner, settings, fresh_cache):
    # Past the limit, the form refuses before counting; other web processes may still count
    # failures that were already under way.
    settings.LOGIN_MAX_FAILURES = 2
    for _ in range(5):
        login_guard.note_failure("olivia", "198.51.100.7")
    locks = AuditEvent.objects.filter(action="user.login_locked")
    assert [e.after["scope"] for e in locks] == ["username and address"]
    assert "after 2 failed attempts" in locks[0].message_text


def test_an_address_trying_many_usernames_is_locked_and_audited_once(
    client, owner, settings, fresh_cache
):
    settings.LOGIN_MAX_FAILURES = 1
    per_address = settings.LOGIN_MAX_FAILURES * login_guard.PER_IP_FACTOR
    names = [f"guess{n}" for n in range(per_address + 2)]
    try:
        for name in names:
            attempt(client, name, "wrong", ip="203.0.113.66")
        assert attempt(client, "olivia", "pw-olivia", ip="203.0.113.66").status_code == 200
        address_locks = [
            e
            for e in AuditEvent.objects.filter(action="user.login_locked")
            if e.after["scope"] == "address"
        ]
        assert len(address_locks) == 1
        assert "203.0.113.66" in address_locks[0].message_text
    finally:
        for name in names:
            forget_failures(name, "203.0.113.66")


def test_a_direct_client_forging_a_forwarding_header_is_still_counted_by_its_address(
    client, owner, settings, fresh_cache
):
    # Direct (no proxy configured): X-Forwarded-For is the client's own say-so. Were it to
    # switch the count to username alone, one address could spray passwords across every
    # username unhindered.
    settings.TRUSTED_PROXIES = []
    settings.BEHIND_TLS_PROXY = False
    settings.LOGIN_MAX_FAILURES = 1
    per_address = settings.LOGIN_MAX_FAILURES * login_guard.PER_IP_FACTOR
    names = [f"guess{n}" for n in range(per_address + 2)]
    try:
        for n, name in enumerate(names):
            attempt(client, name, "wrong", ip="203.0.113.66", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        refused = attempt(
            client, "olivia", "pw-olivia", ip="203.0.113.66", HTTP_FORWARDED="for=192.0.2.99"
        )
        assert "Too many failed attempts" in refused.content.decode()
        scopes = {e.after["scope"] for e in AuditEvent.objects.filter(action="user.login_locked")}
        assert "address" in scopes
    finally:
        for name in names:
            forget_failures(name, "203.0.113.66")


def test_a_direct_client_forging_a_forwarding_header_cannot_lock_a_user_out_everywhere(
    client, owner, settings, fresh_cache
):
    settings.TRUSTED_PROXIES = []
    settings.BEHIND_TLS_PROXY = False
    settings.LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        attempt(client, "olivia", "wrong", ip="203.0.113.66", HTTP_X_REAL_IP="192.0.2.1")
    assert attempt(client, "olivia", "pw-olivia", ip="198.51.100.7").status_code == 302
    [lock] = AuditEvent.objects.filter(action="user.login_locked")
    assert lock.after["scope"] == "username and address"


PROXY = "10.0.0.5"


def via_proxy(client, username, password, client_address):
    """A login through a proxy at PROXY that passes the client's address on."""
    return attempt(client, username, password, ip=PROXY, HTTP_X_FORWARDED_FOR=client_address)


def test_behind_an_unlisted_proxy_failures_from_anyone_do_not_lock_everyone(
    client, owner, settings, fresh_cache
):
    # TRUSTED_PROXIES unset: every client has the proxy's address, so it counts for nothing.
    settings.TRUSTED_PROXIES = []
    settings.BEHIND_TLS_PROXY = True
    settings.LOGIN_MAX_FAILURES = 1
    names = [
        f"guess{n}" for n in range(settings.LOGIN_MAX_FAILURES * login_guard.PER_IP_FACTOR + 2)
    ]
    try:
        for name in names:
            via_proxy(client, name, "wrong", "203.0.113.66")
        assert via_proxy(client, "olivia", "pw-olivia", "198.51.100.7").status_code == 302
        scopes = {e.after["scope"] for e in AuditEvent.objects.filter(action="user.login_locked")}
        assert scopes == {"username"}
    finally:
        for name in names:
            forget_failures(name, None)


def test_behind_an_unlisted_proxy_a_user_is_locked_by_username_alone(
    client, owner, settings, fresh_cache
):
    settings.TRUSTED_PROXIES = []
    settings.BEHIND_TLS_PROXY = True
    settings.LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        via_proxy(client, "olivia", "wrong", "203.0.113.66")
    response = via_proxy(client, "olivia", "pw-olivia", "198.51.100.7")
    assert "Too many failed attempts" in response.content.decode()
    [lock] = AuditEvent.objects.filter(action="user.login_locked")
    assert lock.after == {"username": "olivia", "scope": "username"}
    assert PROXY not in lock.message_text


def test_through_a_listed_proxy_the_clients_own_address_counts(
    client, owner, settings, fresh_cache
):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    settings.LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        via_proxy(client, "olivia", "wrong", "203.0.113.66")
    locked = via_proxy(client, "olivia", "pw-olivia", "203.0.113.66")
    assert "Too many failed attempts" in locked.content.decode()
    assert via_proxy(client, "olivia", "pw-olivia", "198.51.100.7").status_code == 302
    [lock] = AuditEvent.objects.filter(action="user.login_locked")
    assert lock.after["scope"] == "username and address"
    assert "203.0.113.66" in lock.message_text


def test_a_connection_not_from_a_listed_proxy_is_counted_by_its_own_address(
    client, owner, settings, fresh_cache
):
    # Not through a listed proxy: its X-Forwarded-For is the client's own say-so, ignored.
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    settings.LOGIN_MAX_FAILURES = 2
    for client_address in ("192.0.2.1", "192.0.2.2"):
        attempt(client, "olivia", "wrong", ip="203.0.113.66", HTTP_X_FORWARDED_FOR=client_address)
    locked = attempt(client, "olivia", "pw-olivia", ip="203.0.113.66")
    assert "Too many failed attempts" in locked.content.decode()
    assert attempt(client, "olivia", "pw-olivia", ip="198.51.100.7").status_code == 302


def test_the_admin_login_is_locked_the_same_way(client, settings, fresh_cache, django_user_model):
    django_user_model.objects.create_user("staff", password="pw-staff", is_staff=True)
    settings.LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        client.post(
            "/admin/login/", {"username": "staff", "password": "bad"}, REMOTE_ADDR="198.51.100.7"
        )
    response = client.post(
        "/admin/login/", {"username": "staff", "password": "pw-staff"}, REMOTE_ADDR="198.51.100.7"
    )
    assert "Too many failed attempts" in response.content.decode()


# --- headers and production settings ---


def test_pages_carry_the_security_headers(client, owner, world):
    client.force_login(owner)
    response = client.get(reverse("deployment-detail", args=[world[1]["pk"]]))
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self' 'nonce-" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "<script>" not in response.content.decode()  # nothing inline for the CSP to refuse


def test_hsts_is_sent_over_https_when_not_in_debug(client, owner, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    client.force_login(owner)
    response = client.get(reverse("deployment-list"), secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_check_deploy_is_clean_under_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_cookies_are_secure(monkeypatch):
    import runpy

    for key, value in production_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SECURE_COOKIES", raising=False)
    monkeypatch.delenv("SECURE_SSL_REDIRECT", raising=False)
    loaded = runpy.run_path(str(SETTINGS_FILE))
    assert loaded["SESSION_COOKIE_SECURE"] and loaded["CSRF_COOKIE_SECURE"]
    assert loaded["SECURE_SSL_REDIRECT"]
    assert loaded["SECURE_HSTS_SECONDS"] >= 31536000


def test_a_viewer_is_refused_every_state_change(
    client, organization, world, django_user_model, demo_mode
):
    viewer = django_user_model.objects.create_user("vic", password="x")
    Membership.objects.create(user=viewer, organization=organization, role="viewer")
    client.force_login(viewer)
    for name, converters in customer_routes():
        if name in ("audit-log", "audit-export", "deployment-list", "home"):
            continue
        url = reverse(name, kwargs=kwargs_for(converters, world[1]))
        status = client.post(url, {"name": "x"}).status_code
        assert status in (403, 405), f"a viewer's POST {url} ({name}) gave {status}"
