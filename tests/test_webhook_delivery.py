"""Delivering an event: each attempt recorded, retried with backoff by a schedule (never a
sleep) when the endpoint is down, slow or busy, final when it refuses or redirects, never
made twice; a test event goes even to a disabled endpoint; and an owner can send a failed
or cancelled delivery again, as the same event."""

import json
import time

import pytest
from django.urls import reverse
from django_q.models import Schedule

from core.models import AuditEvent
from tests.support.factories import make_peering
from tests.support.webhooks import (
    become_running,
    closed_port,
    expected_signature,
    http_server,
    make_endpoint,
    next_scheduled,
    resend_url,
    send_test,
    url_of,
)
from webhooks import queue, services, tasks
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


# --- retries ---


def test_it_retries_a_503_later_and_then_succeeds(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    receiver.answers = [(503, {}, b"down for maintenance"), (200, {}, b"")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)

    assert (delivery.status, delivery.attempt_count) == ("pending", 1)
    first = delivery.attempts.get()
    assert (first.status_code, first.outcome) == (503, "retrying")
    assert "503" in first.error and "down for maintenance" in first.error
    schedule = Schedule.objects.get(func=queue.DELIVER)
    assert schedule.schedule_type == Schedule.ONCE
    assert schedule.repeats == -1  # the scheduler deletes it once it has run
    assert 29 <= (schedule.next_run - first.started_at).total_seconds() <= 45
    assert delivery.next_attempt_at == schedule.next_run

    next_scheduled(delivery)

    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)
    assert delivery.next_attempt_at is None
    assert [(a.number, a.status_code, a.outcome) for a in delivery.attempts.all()] == [
        (1, 503, "retrying"),
        (2, 200, "succeeded"),
    ]
    assert len(receiver.received) == 2
    # The same event, byte for byte, signed again for its new timestamp.
    first_request, second_request = receiver.received
    assert first_request.body == second_request.body
    assert first_request.headers["webhook-id"] == second_request.headers["webhook-id"]
    timestamp = second_request.headers["webhook-timestamp"]
    assert second_request.headers["webhook-signature"] == "v1=" + expected_signature(
        endpoint.secret, timestamp, second_request.body
    )


def test_a_429_is_retried_no_sooner_than_retry_after(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    receiver.answers = [(429, {"Retry-After": "120"}, b"slow down")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    attempt = delivery.attempts.get()
    assert (delivery.status, attempt.status_code, attempt.outcome) == ("pending", 429, "retrying")
    schedule = Schedule.objects.get(func=queue.DELIVER)
    assert 119 <= (schedule.next_run - attempt.started_at).total_seconds() <= 135


def test_a_400_is_final(receiver, local_network, organization, django_capture_on_commit_callbacks):
    receiver.answers = [(400, {}, b'{"error": "bad signature"}')]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert (delivery.status, delivery.attempt_count) == ("failed", 1)
    attempt = delivery.attempts.get()
    assert (attempt.status_code, attempt.outcome) == (400, "failed")
    assert "bad signature" in attempt.error
    assert delivery.finished_at is not None
    assert not Schedule.objects.filter(func=queue.DELIVER).exists()
    # A stray second run of the task sends nothing.
    assert tasks.deliver(delivery.pk) == "failed"
    assert len(receiver.received) == 1


def test_attempts_are_bounded(
    receiver, local_network, organization, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.answers = [(500, {}, b"")] * 5
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    delays = []
    for _ in range(2):
        schedule = next_scheduled(delivery)
        first_attempt_time = delivery.attempts.get(number=len(delays) + 1).started_at
        delays.append((schedule.next_run - first_attempt_time).total_seconds())
    assert (delivery.status, delivery.attempt_count) == ("failed", 3)
    assert [a.outcome for a in delivery.attempts.all()] == ["retrying", "retrying", "failed"]
    assert 29 <= delays[0] <= 45 and 59 <= delays[1] <= 75  # doubling
    assert Schedule.objects.filter(func=queue.DELIVER).count() == 2
    assert len(receiver.received) == 3


def test_the_backoff_doubles_up_to_a_cap_and_honours_a_longer_retry_after():
    assert [services.backoff_seconds(n) for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert services.backoff_seconds(20) == services.BACKOFF_MAX_SECONDS == 3600
    assert services.backoff_seconds(1, retry_after=5) == 30  # never sooner than the backoff
    assert services.backoff_seconds(1, retry_after=300) == 300
    assert services.backoff_seconds(1, retry_after=10**6) == 3600


def test_a_connection_error_is_retried(
    local_network, organization, django_capture_on_commit_callbacks
):
    with closed_port() as port:
        endpoint = make_endpoint(organization, f"http://127.0.0.1:{port}/hooks")
        delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    attempt = delivery.attempts.get()
    assert (delivery.status, attempt.status_code, attempt.outcome) == ("pending", None, "retrying")
    assert attempt.error.startswith("Network error")
    assert Schedule.objects.filter(func=queue.DELIVER).count() == 1


def test_a_slow_endpoint_times_out_and_is_retried(
    receiver, local_network, organization, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_TIMEOUT = 0.2
    receiver.answers = ["hang"]
    endpoint = make_endpoint(organization, receiver.url)
    started = time.monotonic()
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert time.monotonic() - started < 3
    attempt = delivery.attempts.get()
    assert (attempt.status_code, attempt.outcome) == (None, "retrying")
    assert "No answer within 0.2 s" in attempt.error


def test_a_redirect_is_a_final_failure_and_is_not_followed(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    with http_server() as target:
        receiver.answers = [(302, {"Location": target.url}, b"")]
        endpoint = make_endpoint(organization, receiver.url)
        delivery = send_test(endpoint, django_capture_on_commit_callbacks)
        assert target.received == []
    assert len(receiver.received) == 1
    assert delivery.status == "failed"
    attempt = delivery.attempts.get()
    assert (attempt.status_code, attempt.outcome) == (302, "failed")
    assert "redirects to" in attempt.error and target.url in attempt.error
    assert "do not follow redirects" in attempt.error
    assert not Schedule.objects.filter(func=queue.DELIVER).exists()


# --- the task's bookkeeping ---


def test_a_delivery_whose_endpoint_was_disabled_meanwhile_is_cancelled(
    receiver, local_network, organization, deployment, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    with django_capture_on_commit_callbacks() as queued:
        assert become_running(make_peering(deployment, "provisioning"))
    services.update_endpoint(endpoint, enabled=False)
    for send in queued:
        send()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == ("cancelled", 0)
    assert receiver.received == []


def test_a_test_event_goes_to_a_disabled_endpoint(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url, enabled=False)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert delivery.status == "succeeded"
    event = json.loads(receiver.received[0].body)
    assert event["type"] == "webhook.test"
    assert event["organization"] == {"id": organization.pk, "name": "Acme"}
    assert (event["deployment"], event["peering"]) == (None, None)


def test_a_task_for_a_deleted_endpoint_does_nothing(
    organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization)
    with django_capture_on_commit_callbacks() as queued:
        delivery = services.send_test_event(endpoint)
    services.delete_endpoint(endpoint)
    assert not WebhookDelivery.objects.filter(pk=delivery.pk).exists()
    assert tasks.deliver(delivery.pk) is None
    assert len(queued) == 1


def test_of_two_workers_holding_the_same_delivery_one_makes_the_attempt(organization):
    endpoint = make_endpoint(organization)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}"
    )
    first = WebhookDelivery.objects.get(pk=delivery.pk)
    second = WebhookDelivery.objects.get(pk=delivery.pk)
    assert services.claim_next_attempt(first) == 1
    assert services.claim_next_attempt(second) is None
    delivery.refresh_from_db()
    assert delivery.attempt_count == 1


# --- sending a failed delivery again ---


def test_an_owner_sends_a_failed_delivery_again_as_the_same_event(
    receiver, local_network, organization, owner, client, django_capture_on_commit_callbacks
):
    receiver.answers = [(410, {}, b"gone for a deploy"), (200, {}, b"")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert delivery.status == "failed"  # a 4xx is final
    client.force_login(owner)
    page = client.get(url_of("detail", endpoint)).content.decode()
    assert resend_url(delivery) in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(resend_url(delivery), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'id="deliveries"' in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)
    assert [(a.number, a.status_code) for a in delivery.attempts.all()] == [(1, 410), (2, 200)]
    first, again = receiver.received
    assert first.body == again.body
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    resent = AuditEvent.objects.get(action="webhook.resent")
    assert (resent.actor, resent.after["event_id"]) == (owner, str(delivery.event_id))


def test_only_a_failed_or_cancelled_delivery_of_an_enabled_endpoint_is_sent_again(
    organization, owner, client, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization)
    client.force_login(owner)
    for status in ("pending", "succeeded"):
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event_type="webhook.test", body="{}", status=status
        )
        with django_capture_on_commit_callbacks(execute=False) as queued:
            page = client.post(resend_url(delivery), HTTP_HX_REQUEST="true").content.decode()
        assert "Only a delivery that failed or was cancelled" in page and not queued
        delivery.refresh_from_db()
        assert delivery.status == status
    failed = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}", status="failed"
    )
    services.update_endpoint(endpoint, enabled=False)
    assert resend_url(failed) not in client.get(url_of("detail", endpoint)).content.decode()
    response = client.post(resend_url(failed), follow=True)
    assert "Enable the endpoint first" in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == "failed"
    assert not AuditEvent.objects.filter(action="webhook.resent").exists()


def test_a_cancelled_delivery_is_sent_again_and_a_second_click_is_refused(
    receiver, local_network, organization, owner, client, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    cancelled = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="peering.running", body="{}", status="cancelled"
    )
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        client.post(resend_url(cancelled))
        second = client.post(resend_url(cancelled), follow=True).content.decode()
    assert len(queued) == 1 and "Only a delivery that failed or was cancelled" in second
    assert AuditEvent.objects.filter(action="webhook.resent").count() == 1
    for callback in queued:
        callback()
    cancelled.refresh_from_db()
    assert (cancelled.status, cancelled.attempt_count) == ("succeeded", 1)
    assert len(receiver.received) == 1


def test_a_delivery_of_another_endpoint_is_not_found(organization, owner, client):
    mine, other = make_endpoint(organization), make_endpoint(organization)
    theirs = WebhookDelivery.objects.create(
        endpoint=other, event_type="webhook.test", body="{}", status="failed"
    )
    client.force_login(owner)
    url = reverse("webhook-resend", args=[mine.pk, theirs.pk])
    assert client.post(url).status_code == 404
