"""What goes out: a delivery per subscribed endpoint when a peering changes status (in the
transaction of the change, sent on commit), a test event, and a failed delivery sent again."""

import json
import uuid

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from core import audit
from webhooks import queue
from webhooks.events import EVENT_FOR_STATUS, TEST_EVENT
from webhooks.models import (
    WebhookDelivery,
    WebhookEndpoint,
)
from webhooks.services.sending import queued_deadline

Status = WebhookDelivery.Status


def send_test_event(endpoint):
    """Queue a `webhook.test` delivery to this endpoint, enabled or not."""
    event_id = uuid.uuid4()
    now = timezone.now()
    body = _encode(
        {
            "type": TEST_EVENT,
            "id": str(event_id),
            "created_at": now.isoformat(),
            "organization": _organization(endpoint.organization),
            "deployment": None,
            "peering": None,
        }
    )
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_id=event_id,
            event_type=TEST_EVENT,
            body=body,
            created_at=now,
            presumed_lost_at=queued_deadline(now),
        )
        audit.record(
            "webhook.test_sent",
            target=endpoint,
            organization=endpoint.organization,
            after={"event_id": str(event_id)},
        )
        queue.enqueue_delivery(delivery.pk, 1)
    return delivery


def resend_delivery(delivery):
    """Send a delivery that failed or was cancelled once more: the same event byte for byte,
    with the same event ID (a receiver that did get it drops it), as its next attempt (retried
    while WEBHOOK_MAX_ATTEMPTS allows: once they are used up, that one attempt alone).
    Returns None when queued, else why it cannot be resent, in the active language (said
    at once, never stored)."""
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        return gettext("Enable the endpoint first: a disabled endpoint is sent nothing.")
    now = timezone.now()
    with transaction.atomic():
        reopened = WebhookDelivery.objects.filter(
            pk=delivery.pk,
            status__in=[Status.FAILED, Status.CANCELLED],
            attempt_count=delivery.attempt_count,
        ).update(
            status=Status.PENDING,
            finished_at=None,
            next_attempt_at=None,
            presumed_lost_at=queued_deadline(now),
        )
        if not reopened:
            return gettext("Only a delivery that failed or was cancelled can be sent again.")
        audit.record(
            "webhook.resent",
            target=endpoint,
            organization=endpoint.organization,
            after={"event_id": str(delivery.event_id), "event_type": delivery.event_type},
        )
        queue.enqueue_delivery(delivery.pk, delivery.attempt_count + 1)
    return None


def record_peering_event(peering, previous):
    """One delivery per enabled endpoint of the peering's organization subscribed to the
    event its new status makes (none for the transitional statuses). Called inside the
    transaction of the change; the sends are queued for when it commits."""
    event_type = EVENT_FOR_STATUS.get(peering.status)
    if event_type is None:
        return []
    deployment = peering.deployment
    organization = deployment.organization
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(organization=organization, enabled=True)
        if event_type in endpoint.event_types
    ]
    if not endpoints:
        return []
    event_id = uuid.uuid4()
    body = _encode(
        {
            "type": event_type,
            "id": str(event_id),
            "created_at": peering.status_changed_at.isoformat(),
            "organization": _organization(organization),
            "deployment": {
                "id": deployment.pk,
                "name": deployment.name,
                "region": deployment.region,
            },
            "peering": {
                "id": peering.pk,
                "peering_id": peering.peering_id,
                "customer_account_id": peering.customer_account_id,
                "customer_vpc_id": peering.customer_vpc_id,
                "customer_cidrs": peering.customer_cidrs,
                "status": peering.status,
                "previous_status": previous,
                # The code is what a receiver branches on; the sentence is English whoever
                # caused the change (a receiver's code must not depend on a reader's language).
                "status_reason_code": peering.status_reason_code,
                "status_reason_params": peering.status_reason_params,
                "status_reason": peering.status_reason_english,
            },
        }
    )
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint=endpoint,
                event_id=event_id,
                event_type=event_type,
                body=body,
                created_at=now,
                presumed_lost_at=queued_deadline(now),
            )
            for endpoint in endpoints
        ]
    )
    for delivery in deliveries:
        queue.enqueue_delivery(delivery.pk, 1)
    return deliveries


def _organization(organization):
    return {"id": organization.pk, "name": organization.name}


def _encode(payload):
    # Encoded once, stored, and sent byte for byte on every attempt.
    return json.dumps(payload, separators=(",", ":"))
