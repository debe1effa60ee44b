"""A peering's settled status change becomes an event: one delivery per subscribed, enabled
endpoint of its organization, sent signed over real HTTP to a server this test starts;
transitional states, rolled-back changes and failures of the webhooks themselves never
reach anyone, nor block the change."""

import json
import time
from datetime import datetime

import pytest
from django.db import connection, transaction
from django.utils import translation
from django_q.models import Schedule

from core import reasons
from core.models import AuditEvent
from peerings import services as peering_services
from peerings.models import PeeringConnection
from peerings.services import transitions
from tests.support.factories import make_peering
from tests.support.i18n import translated
from tests.support.webhooks import (
    ALL_EVENTS,
    become_running,
    expected_signature,
    make_endpoint,
)
from webhooks import queue, services
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db

Status = PeeringConnection.Status


# --- sent over real HTTP, signed ---


def test_it_delivers_a_signed_event_to_a_real_server(
    receiver, local_network, organization, deployment, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    peering = make_peering(deployment, Status.PROVISIONING)
    with django_capture_on_commit_callbacks(execute=True):
        assert become_running(peering)

    assert len(receiver.received) == 1
    request = receiver.received[0]
    assert (request.method, request.path) == ("POST", "/hooks")
    assert request.headers["content-type"] == "application/json"
    assert "Peering Portal" in request.headers["user-agent"]
    timestamp = request.headers["webhook-timestamp"]
    assert abs(time.time() - int(timestamp)) < 60
    signature = request.headers["webhook-signature"]
    assert signature == "v1=" + expected_signature(endpoint.secret, timestamp, request.body)
    # The signature covers the timestamp and every byte of the body.
    assert signature != "v1=" + expected_signature(
        endpoint.secret, str(int(timestamp) + 1), request.body
    )
    assert signature != "v1=" + expected_signature(endpoint.secret, timestamp, request.body + b" ")

    event = json.loads(request.body)
    assert event == {
        "type": "peering.running",
        "id": request.headers["webhook-id"],
        "created_at": peering.status_changed_at.isoformat(),
        "organization": {"id": organization.pk, "name": "Acme"},
        "deployment": {"id": deployment.pk, "name": "orders", "region": "us-east-1"},
        "peering": {
            "id": peering.pk,
            "peering_id": peering.peering_id,
            "customer_account_id": "210987654321",
            "customer_vpc_id": peering.customer_vpc_id,
            "customer_cidrs": ["172.16.1.0/24"],
            "status": "running",
            "previous_status": "provisioning",
            "status_reason_code": "",
            "status_reason_params": {},
            "status_reason": "",
        },
    }
    assert datetime.fromisoformat(event["created_at"]).tzinfo is not None

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 1)
    assert str(delivery.event_id) == event["id"]
    attempt = delivery.attempts.get()
    assert (attempt.number, attempt.status_code, attempt.outcome, attempt.error) == (
        1,
        200,
        "succeeded",
        "",
    )
    assert attempt.duration_ms >= 0
    assert not Schedule.objects.filter(func=queue.DELIVER).exists()


def test_a_failure_event_carries_the_reason_code_and_the_reason_in_english(
    receiver, local_network, organization, deployment, django_capture_on_commit_callbacks
):
    """The code is what a receiver branches on; the sentence is English even when the change
    was made by someone reading the console in another language."""
    make_endpoint(organization, receiver.url, event_types=["peering.failed"])
    peering = make_peering(deployment, Status.PENDING)
    params = {"requester_vpc_id": "vpc-0aaa", "vpc_id": "vpc-0bbb"}
    english = "The request in AWS comes from VPC vpc-0aaa, not vpc-0bbb that you entered."
    msgid = str(reasons.MESSAGES["wrong_vpc"])
    with (
        translated({msgid: "AWS 中的请求来自 VPC %(requester_vpc_id)s，而不是 %(vpc_id)s。"}),
        translation.override("zh-hans"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert peering.status_reason == ""
        assert peering_services.fail(
            peering, reason_code="wrong_vpc", reason_params=params, retryable=False
        )
        assert peering.status_reason == "AWS 中的请求来自 VPC vpc-0aaa，而不是 vpc-0bbb。"
    event = json.loads(receiver.received[0].body)
    assert event["type"] == "peering.failed"
    assert event["peering"]["status"] == "failed"
    assert event["peering"]["previous_status"] == "pending"
    assert event["peering"]["status_reason_code"] == "wrong_vpc"
    assert event["peering"]["status_reason_params"] == params
    assert event["peering"]["status_reason"] == english


# --- which endpoints get which events ---


def test_a_status_change_makes_one_delivery_per_subscribed_enabled_endpoint_of_the_org(
    organization, deployment, outsider, django_capture_on_commit_callbacks
):
    other_organization = outsider.memberships.get().organization
    subscribed = [
        make_endpoint(organization, "https://a.example.com/"),
        make_endpoint(organization, "https://b.example.com/", event_types=ALL_EVENTS),
    ]
    make_endpoint(
        organization,
        "https://unsubscribed.example.com/",
        event_types=["peering.failed", "peering.deleted"],
    )
    make_endpoint(organization, "https://disabled.example.com/", enabled=False)
    make_endpoint(other_organization, "https://other-org.example.com/")
    peering = make_peering(deployment, Status.PROVISIONING)

    with django_capture_on_commit_callbacks() as queued:
        assert become_running(peering)

    deliveries = list(WebhookDelivery.objects.order_by("endpoint_id"))
    assert [d.endpoint_id for d in deliveries] == [e.pk for e in subscribed]
    assert {d.event_type for d in deliveries} == {"peering.running"}
    assert {d.status for d in deliveries} == {"pending"}
    # One event, one ID and one body, whoever receives it.
    assert len({d.event_id for d in deliveries}) == 1
    assert len({d.body for d in deliveries}) == 1
    # One send queued per delivery, for when the transaction commits.
    assert len(queued) == 2


@pytest.mark.parametrize(
    ("previous", "to", "event_type"),
    [
        (Status.PROVISIONING, Status.RUNNING, "peering.running"),
        (Status.PENDING, Status.FAILED, "peering.failed"),
        (Status.DELETING, Status.DELETED, "peering.deleted"),
        (Status.RUNNING, Status.PEER_DELETED, "peering.peer_deleted"),
        (Status.PENDING, Status.PROVISIONING, None),
        (Status.RUNNING, Status.DELETING, None),
        (Status.FAILED, Status.PENDING, None),
    ],
)
def test_each_settled_status_is_an_event_and_no_transitional_one_is(
    organization, deployment, previous, to, event_type, django_capture_on_commit_callbacks
):
    make_endpoint(organization, event_types=ALL_EVENTS)
    peering = make_peering(deployment, previous)
    with django_capture_on_commit_callbacks() as queued:
        assert transitions.transition(
            peering, to=to, allowed_from=[previous], action=f"peering.{to}"
        )
    deliveries = list(WebhookDelivery.objects.all())
    if event_type is None:
        assert deliveries == [] and queued == []
        return
    assert [d.event_type for d in deliveries] == [event_type]
    body = json.loads(deliveries[0].body)
    assert (body["type"], body["peering"]["status"]) == (event_type, to)
    assert body["peering"]["previous_status"] == previous


def test_a_rolled_back_change_notifies_nobody(
    organization, deployment, django_capture_on_commit_callbacks
):
    make_endpoint(organization)
    peering = make_peering(deployment, Status.PROVISIONING)
    with (
        django_capture_on_commit_callbacks() as queued,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        assert become_running(peering)
        raise RuntimeError("the rest of the change failed")
    assert not WebhookDelivery.objects.exists()
    assert queued == []


def test_a_webhook_failure_never_blocks_a_peering_change(
    organization, deployment, monkeypatch, caplog
):
    make_endpoint(organization)
    peering = make_peering(deployment, Status.PROVISIONING)

    def broken(*args, **kwargs):
        # A database error: on PostgreSQL it aborts the transaction unless a savepoint
        # contains it.
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(services, "record_peering_event", broken)
    assert become_running(peering)
    peering.refresh_from_db()
    assert peering.status == "running"
    assert AuditEvent.objects.filter(action="peering.running").exists()
    assert not WebhookDelivery.objects.exists()
    assert "no deliveries made for peering" in caplog.text
