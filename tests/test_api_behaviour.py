"""What every API answer shares: Idempotency-Key replays, the per-key rate limit (429 +
Retry-After), cursor pagination stable while rows are added, X-Request-Id, problem+json
even for unknown routes, the audit log with the page's filters, the OpenAPI document and
the documentation page under the CSP."""

import re
import runpy
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from api import idempotency
from api.models import IdempotentRequest
from core import audit
from core.cache import SharedDatabaseCache
from core.models import AuditEvent, Organization
from peerings.models import PeeringConnection, Resource
from tests.support.api import ApiClient, assert_problem, make_key
from tests.support.factories import add_peerings_with_resources, make_deployment, make_peering

pytestmark = pytest.mark.django_db


def resources_url(deployment):
    return reverse("api-deployment-resources", kwargs={"id": deployment.pk})


def resource_body(peering, name="orders-db"):
    return {
        "name": name,
        "kind": "mysql",
        "host": "172.16.1.10",
        "port": 3306,
        "peering": peering.pk,
    }


# --- Idempotency-Key ---


def test_the_same_key_and_body_get_the_same_answer_and_nothing_is_done_twice(api, deployment):
    peering = make_peering(deployment, "running")
    headers = {"Idempotency-Key": "7c1d0e5a"}
    first = api.post(resources_url(deployment), resource_body(peering), headers=headers)
    again = api.post(resources_url(deployment), resource_body(peering), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert Resource.objects.count() == 1
    assert AuditEvent.objects.filter(action="resource.created").count() == 1
    # Without the key, the same body is a duplicate.
    assert api.post(resources_url(deployment), resource_body(peering)).status_code == 409


def test_a_refusal_is_replayed_as_well(api, deployment):
    peering = make_peering(deployment, "pending")
    headers = {"Idempotency-Key": "k-1"}
    first = api.post(resources_url(deployment), resource_body(peering), headers=headers)
    again = api.post(resources_url(deployment), resource_body(peering), headers=headers)
    assert_problem(first, 422)
    assert_problem(again, 422)
    assert again.json()["errors"] == first.json()["errors"]


def test_the_same_key_with_another_body_is_422(api, deployment):
    peering = make_peering(deployment, "running")
    headers = {"Idempotency-Key": "k-2"}
    api.post(resources_url(deployment), resource_body(peering), headers=headers)
    other = api.post(resources_url(deployment), resource_body(peering, "other"), headers=headers)
    body = assert_problem(other, 422)
    assert "Idempotency-Key" in body["errors"]
    assert Resource.objects.count() == 1


def test_keys_are_kept_per_api_key(api, organization, owner, deployment):
    peering = make_peering(deployment, "running")
    other = ApiClient(make_key(organization, owner, name="other")[1])
    headers = {"Idempotency-Key": "shared"}
    assert (
        api.post(resources_url(deployment), resource_body(peering), headers=headers).status_code
        == 201
    )
    # Another key's same Idempotency-Key is its own: this is a fresh (duplicate) request.
    assert (
        other.post(resources_url(deployment), resource_body(peering), headers=headers).status_code
        == 409
    )


def test_a_key_older_than_a_day_is_forgotten(api, deployment):
    peering = make_peering(deployment, "running")
    headers = {"Idempotency-Key": "old"}
    api.post(resources_url(deployment), resource_body(peering), headers=headers)
    IdempotentRequest.objects.update(created_at=timezone.now() - timedelta(hours=25))
    Resource.objects.all().delete()
    assert (
        api.post(resources_url(deployment), resource_body(peering), headers=headers).status_code
        == 201
    )
    assert Resource.objects.count() == 1


def test_a_request_still_being_answered_gets_409_with_retry_after(api, deployment):
    peering = make_peering(deployment, "running")
    headers = {"Idempotency-Key": "a"}
    assert (
        api.post(resources_url(deployment), resource_body(peering), headers=headers).status_code
        == 201
    )
    # As the record stands while the first request is still being answered:
    IdempotentRequest.objects.filter(key="a").update(status=0, body=None)
    response = api.post(resources_url(deployment), resource_body(peering), headers=headers)
    assert_problem(response, 409)
    assert response["Retry-After"] == "1"
    assert Resource.objects.count() == 1


def test_a_request_whose_worker_died_is_taken_over_by_the_next_retry(api, deployment):
    peering = make_peering(deployment, "running")
    headers = {"Idempotency-Key": "killed"}
    # As a SIGKILLed worker leaves it: started long ago, never answered, nothing done.
    api.post(resources_url(deployment), resource_body(peering), headers=headers)
    Resource.objects.all().delete()
    IdempotentRequest.objects.filter(key="killed").update(
        status=0, body=None, created_at=timezone.now() - idempotency.ABANDONED_AFTER * 2
    )
    response = api.post(resources_url(deployment), resource_body(peering), headers=headers)
    assert response.status_code == 201
    assert Resource.objects.count() == 1
    [record] = IdempotentRequest.objects.filter(key="killed")
    assert record.status == 201
    again = api.post(resources_url(deployment), resource_body(peering), headers=headers)
    assert again["Idempotent-Replayed"] == "true"


def test_an_abandoned_request_is_taken_over_once(api_key):
    # Two retries racing: the compare-and-set on the start time lets only the first in.
    record = IdempotentRequest.objects.create(
        api_key=api_key[0],
        key="raced",
        fingerprint="f",
        created_at=timezone.now() - idempotency.ABANDONED_AFTER * 2,
    )
    request = type("Request", (), {"auth": api_key[0]})()
    now = timezone.now()
    assert idempotency._take_over_abandoned(request, "raced", "f", now) == record
    assert idempotency._take_over_abandoned(request, "raced", "f", now) is None


def test_no_live_request_outlasts_the_abandoned_bound():
    # gunicorn kills a worker silent for `timeout`: a live request never reaches the bound.
    config = runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))
    timeout = config.get("timeout", 30)  # gunicorn's default
    assert timedelta(seconds=timeout * 2) <= idempotency.ABANDONED_AFTER


# --- rate limit ---


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(api, settings, organization, owner):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    for _ in range(3):
        assert api.get("/api/v1/deployments/").status_code == 200
    response = api.get("/api/v1/deployments/")
    assert_problem(response, 429)
    assert 0 < int(response["Retry-After"]) <= 60
    # Per key: another key of the same organization is not held back.
    other = ApiClient(make_key(organization, owner, name="other")[1])
    assert other.get("/api/v1/deployments/").status_code == 200


# --- pagination, request IDs, unknown routes ---


def test_cursor_pages_are_stable_while_rows_are_added(api, deployment):
    add_peerings_with_resources(deployment, 5)
    url = reverse("api-deployment-peerings", kwargs={"id": deployment.pk})
    first = api.get(url, {"page_size": 2}).json()
    add_peerings_with_resources(deployment, 3)  # newer rows arrive meanwhile
    seen = [p["id"] for p in first["results"]]
    next_url = first["next"]
    while next_url:
        page = api.get(next_url).json()
        seen += [p["id"] for p in page["results"]]
        next_url = page["next"]
    oldest_five = sorted(PeeringConnection.objects.values_list("pk", flat=True))[:5]
    assert seen == sorted(oldest_five, reverse=True)


def test_every_answer_carries_a_request_id(api, deployment):
    for response in (
        api.get("/api/v1/deployments/"),
        api.get("/api/v1/peerings/0/"),
        ApiClient().get("/api/v1/deployments/"),
        api.get("/api/v1/openapi.json"),
    ):
        assert len(response["X-Request-Id"]) >= 16


@pytest.mark.parametrize(
    "query",
    [{"page_size": "0"}, {"page_size": "501"}, {"page_size": "ten"}, {"pagesize": "10"}],
)
def test_a_bad_or_unknown_query_parameter_is_refused_not_ignored(api, query):
    body = assert_problem(api.get("/api/v1/deployments/", query), 422)
    assert list(body["errors"]) == list(query)


def test_an_audit_event_recorded_by_code_reads_its_message_in_english_with_its_code(
    api, deployment
):
    """The API answers in English whatever Accept-Language (ApiView; programs read it, the
    console speaks the person's language): a program translates or branches on
    `message_code` and `message_params`, the machine form, never on `message`."""
    peering = make_peering(deployment, "running")
    audit.record(
        "peering.created",
        target=peering,
        message_code="login_failed",
        message_params={"username": "olivia"},
    )
    url = reverse("api-audit-events")
    for headers in ({}, {"Accept-Language": "zh-hans"}):
        [event] = [e for e in api.get(url, headers=headers).json()["results"] if e["message_code"]]
        assert event["message_code"] == "login_failed"
        assert event["message_params"] == {"username": "olivia"}
        assert event["message"] == "Failed login for olivia"


def test_a_typed_audit_filter_given_empty_is_refused(api):
    body = assert_problem(api.get(reverse("api-audit-events"), {"until": ""}), 422)
    assert list(body["errors"]) == ["until"]


def test_an_unknown_api_route_is_a_problem_not_a_page(api):
    assert_problem(api.get("/api/v1/nothing-here/"), 404)
    assert_problem(api.get("/api/v1/peerings/99999999999999999999999/"), 404)


def test_a_body_that_is_not_json_is_400(api, deployment):
    response = api.client.post(
        resources_url(deployment), data="{", content_type="application/json", headers=api.headers
    )
    assert_problem(response, 400)


# --- audit events ---


def test_audit_events_are_the_organizations_with_the_pages_filters(api, deployment, organization):
    other = make_deployment(organization, name="other")
    audit.record("peering.created", target=make_peering(deployment))
    audit.record("peering.created", target=make_peering(other, n=2))
    audit.record("resource.deleted", deployment=deployment, organization=organization)
    audit.record("peering.created", organization=Organization.objects.create(name="Them"))
    url = reverse("api-audit-events")
    everything = api.get(url).json()["results"]
    assert {e["action"] for e in everything} >= {"peering.created", "resource.deleted"}
    assert all(e["action"] != "peering.created" or e["deployment"] for e in everything)
    filtered = api.get(url, {"deployment": deployment.pk, "action": "peering.created"}).json()
    assert [e["deployment"] for e in filtered["results"]] == [deployment.pk]
    body = assert_problem(api.get(url, {"since": "2026-02-01", "until": "2026-01-01"}), 422)
    assert "since" in body["errors"]


def test_support_staff_show_as_the_vendors_support_in_the_api_too(api, deployment, support):
    actor = audit.actor_for_user(support, AuditEvent.Source.ADMIN, "10.1.2.3")
    audit.record("peering.retry_offered", target=make_peering(deployment), actor=actor)
    event = api.get(reverse("api-audit-events")).json()["results"][0]
    assert event["actor"].endswith(" support") and "sam" not in event["actor"]
    assert event["ip"] is None and event["request_id"] == ""


# --- the OpenAPI document and the documentation page ---


def test_the_openapi_document_lists_every_route_and_needs_no_key(db):
    schema = ApiClient().get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/v1/deployments/",
        "/api/v1/deployments/{id}/",
        "/api/v1/deployments/{id}/peerings/",
        "/api/v1/deployments/{id}/resources/",
        "/api/v1/peerings/{id}/",
        "/api/v1/peerings/{id}/retry/",
        "/api/v1/resources/{id}/",
        "/api/v1/audit-events/",
    }
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_the_documentation_page_is_ours_without_a_cdn_and_under_the_csp(client):
    response = client.get(reverse("api-docs"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "POST /api/v1/deployments/{id}/peerings/" in page
    assert "Idempotency-Key" in page
    assert "<code>peer_deleted</code>" in page  # the states, from the schema's enum
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "https://" not in page.replace("https://www", "")  # nothing loaded from elsewhere


# --- list endpoints: a fixed number of queries ---

# Every query a list request makes, by what it is for (the first pattern, a regular
# expression, that a query's SQL matches from its start names it). Any other query (a
# per-row one, or a new fixed one) reads as "unexpected" and fails the test, as does one
# of these made more often than listed.
KEY_LOOKUP = ("key lookup", r'SELECT .* FROM "api_apikey"')
# The per-key rate limit's throttle, in the default cache. Without Redis that is the
# database (core.cache.SharedDatabaseCache, table core_cache): a get, then Django's set
# (a count of the table for culling, then a lookup and an update in a savepoint, the
# savepoint because the test runs inside a transaction). With Redis: no query at all.
THROTTLE_IN_DATABASE = [
    ("throttle: cache get", r'SELECT "cache_key", "value", "expires" FROM "core_cache" '),
    ("throttle: cache set, count for culling", r'SELECT COUNT\(\*\) FROM "core_cache"'),
    ("throttle: cache set, savepoint", r"SAVEPOINT "),
    ("throttle: cache set, lookup", r'SELECT "cache_key", "expires" FROM "core_cache" '),
    ("throttle: cache set, write", r'UPDATE "core_cache" '),
    ("throttle: cache set, release", r"RELEASE SAVEPOINT "),
]
DEPLOYMENT = ("the deployment", r'SELECT .* FROM "peerings_deployment"')
PAGE = {
    "api-deployment-peerings": [
        DEPLOYMENT,
        ("the page", r'SELECT .* FROM "peerings_peeringconnection"'),
    ],
    "api-deployment-resources": [DEPLOYMENT, ("the page", r'SELECT .* FROM "peerings_resource"')],
    "api-audit-events": [("the page", r'SELECT .* FROM "peerings_auditevent"')],
}


def _purpose(sql, known):
    for name, pattern in known:
        if re.match(pattern, sql, re.DOTALL):
            return name
    return f"unexpected: {sql[:200]}"


@pytest.mark.parametrize("route", list(PAGE))
def test_list_endpoints_run_the_same_queries_for_10_and_500_rows(api, deployment, route):
    url = (
        reverse(route)
        if route == "api-audit-events"
        else reverse(route, kwargs={"id": deployment.pk})
    )
    in_database = isinstance(caches["default"], SharedDatabaseCache)
    throttle = THROTTLE_IN_DATABASE if in_database else []
    expected = [KEY_LOOKUP, *throttle, *PAGE[route]]

    def queries(rows):
        add_peerings_with_resources(deployment, rows - deployment.peerings.count())
        for peering in deployment.peerings.all()[: rows - AuditEvent.objects.count()]:
            audit.record("peering.created", target=peering)
        # The key's last use is written on the first call only; the throttle's entry is
        # made by it too (an insert), so the call measured updates it.
        api.get(url)
        with CaptureQueriesContext(connection) as captured:
            response = api.get(url, {"page_size": 500})
        assert response.status_code == 200
        assert len(response.json()["results"]) == rows
        return [_purpose(q["sql"], expected) for q in captured.captured_queries]

    ten = queries(10)
    assert ten == queries(500)  # the rule: nothing per row
    assert ten == [name for name, _ in expected]  # and nothing fixed beyond these
