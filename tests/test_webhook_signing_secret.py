"""The signing secret: shown once, in the response that made it, then never again, in no
page, log, record or admin; rotated with or without an overlap in which each event is
signed with both secrets."""

import json
import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEvent
from tests.support.web import HTMX
from tests.support.webhooks import (
    expected_signature,
    list_url,
    make_endpoint,
    new_url,
    next_scheduled,
    send_test,
    signatures_of,
    url_of,
)
from webhooks import services
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_the_secret_is_shown_once_and_never_again(client, owner, organization, public_dns, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(owner)
    response = client.post(
        new_url(organization),
        {
            "url": "https://hooks.example.com/peering",
            "description": "Ops alerts",
            "event_types": ["peering.running", "peering.failed"],
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    first = endpoint.secret
    assert first.startswith("whsec_") and len(first) > 40
    assert f'<code id="signing-secret">{first}</code>' in response.content.decode()
    assert "no-store" in response["Cache-Control"]

    def pages():
        """Every page an owner can open afterwards, as text."""
        responses = [
            client.get(list_url()),
            client.get(url_of("detail", endpoint)),
            client.get(url_of("detail", endpoint), **HTMX),
            client.get(url_of("edit", endpoint)),
            client.get(url_of("rotate", endpoint)),
            client.get(url_of("delete", endpoint)),
            client.get(reverse("audit-log")),
            client.get(reverse("audit-export")),
        ]
        assert [r.status_code for r in responses] == [200] * len(responses)
        return [
            (b"".join(r.streaming_content) if r.streaming else r.content).decode()
            for r in responses
        ]

    for text in pages():
        assert first not in text

    # The old secret keeps signing for a day: it is kept, and must stay as unseen as ever.
    response = client.post(url_of("rotate", endpoint), {"keep_previous": "24h"})
    assert response.status_code == 200
    endpoint.refresh_from_db()
    second = endpoint.secret
    assert second != first
    assert second in response.content.decode()
    assert first not in response.content.decode()
    assert "no-store" in response["Cache-Control"]

    for text in pages():
        assert first not in text and second not in text

    events = AuditEvent.objects.filter(action__startswith="webhook.")
    assert {e.action for e in events} == {"webhook.created", "webhook.secret_rotated"}
    recorded = json.dumps([[e.before, e.after, e.message, e.target_repr] for e in events])
    assert first not in recorded and second not in recorded
    assert first not in caplog.text and second not in caplog.text


def test_during_a_rotations_overlap_each_event_is_signed_with_both_secrets(
    receiver,
    local_network,
    organization,
    client,
    owner,
    public_dns,
    django_capture_on_commit_callbacks,
):
    endpoint = make_endpoint(organization, receiver.url)
    old = endpoint.secret
    client.force_login(owner)
    assert client.post(url_of("rotate", endpoint), {"keep_previous": "1h"}).status_code == 200
    endpoint.refresh_from_db()
    assert (
        "the previous one also signs until"
        in client.get(url_of("detail", endpoint)).content.decode()
    )
    # Rotating again meanwhile would end that overlap: the page says so first.
    assert 'id="overlap-ends"' in client.get(url_of("rotate", endpoint)).content.decode()
    send_test(endpoint, django_capture_on_commit_callbacks)
    request = receiver.received[-1]
    timestamp = request.headers["webhook-timestamp"]
    assert signatures_of(request) == [
        expected_signature(endpoint.secret, timestamp, request.body),
        expected_signature(old, timestamp, request.body),
    ]

    # Once the overlap is over, the new secret alone.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    endpoint.refresh_from_db()
    send_test(endpoint, django_capture_on_commit_callbacks)
    request = receiver.received[-1]
    assert signatures_of(request) == [
        expected_signature(endpoint.secret, request.headers["webhook-timestamp"], request.body)
    ]


def test_a_leaked_secret_stops_signing_at_once(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    services.rotate_secret(endpoint)  # no overlap
    endpoint.refresh_from_db()
    assert endpoint.previous_secret == "" and endpoint.signing_secrets() == [endpoint.secret]
    send_test(endpoint, django_capture_on_commit_callbacks)
    assert len(signatures_of(receiver.received[-1])) == 1


def test_rotating_needs_a_choice_of_overlap(client, owner, organization, public_dns):
    endpoint = make_endpoint(organization)
    secret = endpoint.secret
    client.force_login(owner)
    response = client.post(url_of("rotate", endpoint), {"keep_previous": "forever"})
    assert '<ul class="errorlist" id="errors-keep_previous">' in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret == secret


def test_the_secret_stays_out_of_logs_and_records_when_delivering(
    receiver, local_network, organization, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    receiver.answers = [(503, {}, b"busy"), (400, {}, b"nope")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    next_scheduled(delivery)
    assert len(receiver.received) == 2
    assert endpoint.secret not in caplog.text
    recorded = [delivery.body] + [str(a.error_params) for a in delivery.attempts.all()]
    assert not any(endpoint.secret in text for text in recorded)
    assert endpoint.secret not in repr(endpoint) and endpoint.secret not in str(endpoint)
    # Nor the URL's path, often a token itself: our log lines name the host only.
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("webhooks")]
    assert ours and not [line for line in ours if "/hooks" in line]


def test_the_admin_never_shows_the_secret_and_changes_nothing(client, superuser, organization):
    endpoint = make_endpoint(organization)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}"
    )
    client.force_login(superuser)
    for url in (
        "/admin/webhooks/webhookendpoint/",
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
        "/admin/webhooks/webhookdelivery/",
        f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert endpoint.secret not in response.content.decode()
    response = client.post(
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
        {"url": "https://other.example.com/"},
    )
    assert response.status_code == 403
    assert client.get("/admin/webhooks/webhookendpoint/add/").status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/peering"


def test_support_reads_deliveries_and_their_attempts_but_never_the_secret(
    client, support, organization
):
    endpoint = make_endpoint(organization)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}", attempt_count=1
    )
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=timezone.now(),
        duration_ms=12,
        status_code=503,
        error_text="HTTP 503 from the endpoint",
        outcome="retrying",
    )
    client.force_login(support)
    page = client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert "HTTP 503 from the endpoint" in page.content.decode()
    for url in (
        "/admin/webhooks/webhookendpoint/",
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert endpoint.secret not in response.content.decode()
    assert (
        client.post(
            f"/admin/webhooks/webhookendpoint/{endpoint.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
