"""Owners manage their organization's webhook endpoints: who may open and change what, the
forms and their refusals, every change audited, the test-event button, the detail page
with every attempt, and pages that run a fixed number of queries."""

import pytest
from django.test import Client
from django.urls import reverse

from core.models import AuditEvent
from tests.support.web import HTMX, queries_for
from tests.support.webhooks import (
    list_url,
    make_endpoint,
    new_url,
    next_scheduled,
    send_test,
    url_of,
)
from webhooks import services, validators
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, redacted_url

pytestmark = pytest.mark.django_db


# --- who may do what ---


def management_requests(organization, endpoint, delivery=None):
    resend = (
        []
        if delivery is None
        else [("post", reverse("webhook-resend", args=[endpoint.pk, delivery.pk]))]
    )
    return [
        *resend,
        ("get", new_url(organization)),
        ("post", new_url(organization)),
        ("get", url_of("detail", endpoint)),
        ("get", url_of("edit", endpoint)),
        ("post", url_of("edit", endpoint)),
        ("get", url_of("rotate", endpoint)),
        ("post", url_of("rotate", endpoint)),
        ("get", url_of("delete", endpoint)),
        ("post", url_of("delete", endpoint)),
        ("post", url_of("test", endpoint)),
    ]


@pytest.mark.parametrize(
    ("role", "expected"), [("outsider", 404), ("viewer", 403), ("member", 403)]
)
def test_only_owners_manage_webhooks(client, request, organization, role, expected, public_dns):
    endpoint = make_endpoint(organization)
    secret = endpoint.secret
    failed = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}", status="failed"
    )
    webhook_events = AuditEvent.objects.filter(action__startswith="webhook.")
    events_before = webhook_events.count()
    client.force_login(request.getfixturevalue(role))
    data = {"url": "https://other.example.com/", "event_types": ["peering.failed"]}
    for method, url in management_requests(organization, endpoint, failed):
        response = getattr(client, method)(url, data) if method == "post" else client.get(url)
        assert response.status_code == expected, (method, url)
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.secret) == ("https://hooks.example.com/peering", secret)
    assert WebhookEndpoint.objects.count() == 1
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["failed"]
    assert webhook_events.count() == events_before


def test_owners_open_every_page(client, owner, organization):
    endpoint = make_endpoint(organization)
    client.force_login(owner)
    for method, url in management_requests(organization, endpoint):
        if method == "get":
            assert client.get(url).status_code == 200, url


def test_anonymous_visitors_are_sent_to_log_in(client, organization):
    endpoint = make_endpoint(organization)
    for method, url in [("get", list_url()), *management_requests(organization, endpoint)]:
        response = getattr(client, method)(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewers_and_members_read_the_list_without_management_links(
    client, request, organization, role
):
    endpoint = make_endpoint(organization, description="Chat alerts")
    client.force_login(request.getfixturevalue(role))
    page = client.get(list_url()).content.decode()
    # The host, never the path (a token, in many services' webhook URLs).
    assert "https://hooks.example.com/…" in page and "Chat alerts" in page
    assert "/peering" not in page
    assert url_of("detail", endpoint) not in page
    assert new_url(organization) not in page
    assert "Owners of Acme manage its webhooks." in page


def test_the_list_shows_owners_their_links_and_outsiders_nothing_of_others(
    client, owner, organization, outsider
):
    endpoint = make_endpoint(organization)
    client.force_login(owner)
    page = client.get(list_url()).content.decode()
    assert url_of("detail", endpoint) in page and new_url(organization) in page
    client.force_login(outsider)
    page = client.get(list_url()).content.decode()
    assert "hooks.example.com" not in page and "Acme" not in page
    assert "Other Corp" in page


def test_posts_without_a_csrf_token_are_refused(owner, organization, public_dns):
    endpoint = make_endpoint(organization)
    secret = endpoint.secret
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    data = {"url": "https://other.example.com/", "event_types": ["peering.failed"]}
    for method, url in management_requests(organization, endpoint):
        if method == "post":
            assert client.post(url, data).status_code == 403, url
            assert client.post(url, data, **HTMX).status_code == 403, url
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.secret) == ("https://hooks.example.com/peering", secret)
    assert WebhookEndpoint.objects.count() == 1
    assert not WebhookDelivery.objects.exists()


def test_the_wrong_method_gets_405(client, owner, organization):
    endpoint = make_endpoint(organization)
    client.force_login(owner)
    assert client.get(url_of("test", endpoint)).status_code == 405
    assert client.post(list_url()).status_code == 405
    assert client.post(url_of("detail", endpoint)).status_code == 405
    assert client.put(url_of("edit", endpoint)).status_code == 405
    assert client.delete(url_of("delete", endpoint)).status_code == 405


# --- managing endpoints, audited ---


def test_creating_changing_rotating_and_deleting_are_audited(
    client, owner, organization, public_dns
):
    client.force_login(owner)
    client.post(
        new_url(organization),
        {
            "url": "https://hooks.example.com/peering",
            "event_types": ["peering.failed", "peering.running"],
            "enabled": "on",
        },
    )
    endpoint = WebhookEndpoint.objects.get()
    # Kept in the order of the list of events, whatever order the browser sent.
    assert endpoint.event_types == ["peering.running", "peering.failed"]
    created = AuditEvent.objects.get(action="webhook.created")
    assert (created.organization, created.actor, created.source) == (organization, owner, "web")
    hidden_url = redacted_url("https://hooks.example.com/peering")
    assert hidden_url.startswith("https://hooks.example.com/… (#")
    assert created.after == {
        "url": hidden_url,
        "description": "",
        "enabled": True,
        "event_types": ["peering.running", "peering.failed"],
    }

    response = client.post(
        url_of("edit", endpoint),
        {
            "url": "https://hooks.example.com/peering",
            "description": "Ops",
            "event_types": ["peering.running", "peering.failed"],  # enabled unticked
        },
    )
    assert response.status_code == 302
    changed = AuditEvent.objects.get(action="webhook.changed")
    assert changed.organization == organization
    assert changed.before == {"description": "", "enabled": True}
    assert changed.after == {"description": "Ops", "enabled": False}
    # Saving without a change records nothing.
    client.post(
        url_of("edit", endpoint),
        {
            "url": "https://hooks.example.com/peering",
            "description": "Ops",
            "event_types": ["peering.running", "peering.failed"],
        },
    )
    assert AuditEvent.objects.filter(action="webhook.changed").count() == 1

    client.post(url_of("rotate", endpoint), {"keep_previous": "none"})
    rotated = AuditEvent.objects.get(action="webhook.secret_rotated")
    assert (rotated.organization, rotated.before, rotated.after) == (
        organization,
        {},
        {"previous_signs_until": None},
    )

    client.post(url_of("test", endpoint))
    assert AuditEvent.objects.get(action="webhook.test_sent").organization == organization

    response = client.post(url_of("delete", endpoint))
    assert response.status_code == 302 and response["Location"] == list_url()
    assert not WebhookEndpoint.objects.exists()
    assert not WebhookDelivery.objects.exists()  # the history goes with the endpoint
    deleted = AuditEvent.objects.get(action="webhook.deleted")
    assert deleted.organization == organization
    assert deleted.before["url"] == hidden_url
    assert deleted.target_id == str(endpoint.pk)


def test_the_form_needs_an_event_and_knows_only_peering_events(
    client, owner, organization, public_dns
):
    client.force_login(owner)
    page = client.post(
        new_url(organization), {"url": "https://hooks.example.com/", "event_types": []}
    )
    assert "Choose at least one event." in page.content.decode()
    page = client.post(
        new_url(organization),
        {"url": "https://hooks.example.com/", "event_types": ["webhook.test"]},
    )
    assert page.status_code == 200 and 'id="errors-event_types"' in page.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_model_refuses_unknown_event_types():
    with pytest.raises(Exception, match="Unknown event type"):
        validators.validate_event_types(["peering.running", "peering.exploded"])
    validators.validate_event_types(["peering.running"])


def test_update_endpoint_refuses_to_touch_the_secret(organization):
    endpoint = make_endpoint(organization)
    with pytest.raises(TypeError, match="secret"):
        services.update_endpoint(endpoint, secret="whsec_chosen")


# --- the pages ---


def test_the_send_test_event_button_queues_a_test_and_redraws_the_deliveries(
    client, owner, organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization)
    client.force_login(owner)
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(url_of("test", endpoint), **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page and 'id="deliveries"' in page
    assert "webhook.test" in page and 'hx-trigger="every 2s"' in page
    assert "HX-Request" in response["Vary"]
    assert len(queued) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.event_type, delivery.status) == (
        endpoint,
        "webhook.test",
        "pending",
    )
    response = client.post(url_of("test", endpoint))
    assert response.status_code == 302
    assert response["Location"] == url_of("detail", endpoint)


def test_the_detail_page_shows_every_attempt(
    receiver, local_network, client, owner, organization, django_capture_on_commit_callbacks
):
    receiver.answers = [(503, {}, b"maintenance window"), (200, {}, b"")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    client.force_login(owner)
    page = client.get(url_of("detail", endpoint)).content.decode()
    assert "HTTP 503" in page and "maintenance window" in page and "failed, will retry" in page
    assert "next attempt" in page
    assert 'hx-trigger="every 2s"' not in page  # the retry is minutes away: no polling
    next_scheduled(delivery)
    page = client.get(url_of("detail", endpoint)).content.decode()
    assert page.count('class="attempt"') == 2
    assert "HTTP 200" in page and " ms · succeeded" in page


def test_pages_run_a_fixed_number_of_queries(client, owner, organization):
    client.force_login(owner)

    def queries(url):
        return queries_for(client, url)[0]

    endpoint = make_endpoint(organization)
    WebhookDelivery.objects.create(endpoint=endpoint, event_type="webhook.test", body="{}")
    list_few, detail_few = queries(list_url()), queries(url_of("detail", endpoint))
    for n in range(4):
        make_endpoint(organization, f"https://hooks{n}.example.com/")
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event_type="webhook.test", body="{}"
        )
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=1,
            started_at=delivery.created_at,
            duration_ms=5,
            status_code=500,
            outcome="failed",
        )
    assert queries(list_url()) == list_few
    assert queries(url_of("detail", endpoint)) == detail_few


def test_the_nav_links_to_webhooks(client, viewer):
    client.force_login(viewer)
    page = client.get(reverse("deployment-list")).content.decode()
    assert f'<a href="{list_url()}">Webhooks</a>' in page
