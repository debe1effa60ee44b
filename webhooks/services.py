"""Every change to webhook endpoints and deliveries goes through here: the views, the
peering signal and the task call these functions. Endpoint changes are audited in the same
transaction; no secret ever goes into the audit log, a log line or an exception message."""

import json
import logging
import uuid
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core import audit
from webhooks import client, queue
from webhooks.events import EVENT_FOR_STATUS, TEST_EVENT
from webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    new_secret,
    redacted_url,
)

log = logging.getLogger(__name__)
Status = WebhookDelivery.Status
Outcome = WebhookAttempt.Outcome

# Retries wait 30 s, 1 min, 2 min, 4 min, … never more than an hour.
BACKOFF_FIRST_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
EDITABLE_FIELDS = ("url", "description", "enabled", "event_types")


# --- endpoints ---


def create_endpoint(organization, *, url, description="", enabled=True, event_types=()):
    """Save an endpoint with a new secret (on the returned endpoint: show it this once).
    Callers validate the values first (EndpointForm); the URL is checked again before every
    send, since what it resolves to can change."""
    endpoint = WebhookEndpoint(
        organization=organization,
        url=url,
        description=description,
        enabled=enabled,
        event_types=list(event_types),
        secret=new_secret(),
    )
    with transaction.atomic():
        endpoint.save()
        audit.record(
            "webhook.created", target=endpoint, organization=organization, after=_snapshot(endpoint)
        )
    return endpoint


def update_endpoint(endpoint, **values):
    """Apply the editable fields that differ; audit them. False when nothing changed."""
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    changed = {field: value for field, value in values.items() if getattr(endpoint, field) != value}
    if not changed:
        return False
    before = {field: getattr(endpoint, field) for field in changed}
    with transaction.atomic():
        for field, value in changed.items():
            setattr(endpoint, field, value)
        endpoint.save(update_fields=list(changed))
        audit.record(
            "webhook.changed",
            target=endpoint,
            organization=endpoint.organization,
            before=_loggable(before),
            after=_loggable(changed),
        )
    return True


def rotate_secret(endpoint, keep_previous_for=timedelta(0)):
    """Replace the secret (on `endpoint.secret`: show it this once). For `keep_previous_for`
    the previous one signs too (each event carries both signatures), so that the receiver
    can be updated without rejecting events; none, when the old secret has leaked.
    Deliveries still waiting for a retry are signed the same way."""
    now = timezone.now()
    with transaction.atomic():
        overlap_ends = now + keep_previous_for if keep_previous_for else None
        endpoint.previous_secret = endpoint.secret if overlap_ends else ""
        endpoint.previous_secret_expires_at = overlap_ends
        endpoint.secret = new_secret()
        endpoint.secret_created_at = now
        endpoint.save(
            update_fields=[
                "secret",
                "secret_created_at",
                "previous_secret",
                "previous_secret_expires_at",
            ]
        )
        if overlap_ends:
            message = (
                f"Signing secret replaced; the previous one also signs until "
                f"{overlap_ends:%Y-%m-%d %H:%M} UTC."
            )
        else:
            message = "Signing secret replaced; the previous one no longer signs."
        audit.record(
            "webhook.secret_rotated",
            target=endpoint,
            organization=endpoint.organization,
            message=message,
            after={"previous_signs_until": overlap_ends},
        )


def delete_endpoint(endpoint):
    """Delete the endpoint and its delivery history; the audit log keeps the fact."""
    with transaction.atomic():
        audit.record(
            "webhook.deleted",
            target=endpoint,
            organization=endpoint.organization,
            before=_snapshot(endpoint),
        )
        endpoint.delete()


def _snapshot(endpoint):
    return _loggable({field: getattr(endpoint, field) for field in EDITABLE_FIELDS})


def _loggable(values):
    # The audit log is read by viewers too: never a URL's path or query (see redacted_url).
    return {
        field: redacted_url(value) if field == "url" else value for field, value in values.items()
    }


# --- events ---


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
            presumed_lost_at=_queued_deadline(now),
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
    Returns None when queued, else why it cannot be resent."""
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        return "Enable the endpoint first: a disabled endpoint is sent nothing."
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
            presumed_lost_at=_queued_deadline(now),
        )
        if not reopened:
            return "Only a delivery that failed or was cancelled can be sent again."
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
                "status_reason": peering.status_reason,
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
                presumed_lost_at=_queued_deadline(now),
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


# --- sending (the task's side) ---


def backoff_seconds(attempt_number, retry_after=None):
    """How long to wait after failed attempt `attempt_number` (1-based). An endpoint's
    Retry-After may lengthen the wait, up to the cap, never shorten it."""
    delay = min(BACKOFF_FIRST_SECONDS * 2 ** (attempt_number - 1), BACKOFF_MAX_SECONDS)
    if retry_after:
        delay = min(max(delay, retry_after), BACKOFF_MAX_SECONDS)
    return delay


def _queued_deadline(due):
    # A queued send or a scheduled retry that no worker has started this long after it was
    # due was lost (a flushed broker, a deleted schedule); so reconcile counts peerings.
    return due + timedelta(seconds=settings.RECONCILE_STUCK_AFTER)


def _attempt_lease():
    # django-q2 stops a task after Q_TIMEOUT: an attempt with no outcome recorded by then
    # died with its worker.
    return timedelta(seconds=settings.Q_TIMEOUT + 60)


def claim_next_attempt(delivery, number=None):
    """Compare-and-set on the attempt count: attempt `number` (default: the one after the
    count this worker read) is made once, by one worker; any other gets None — a second
    worker holding the same delivery, or a stale copy of a task whose attempt was made."""
    number = number or delivery.attempt_count + 1
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=Status.PENDING, attempt_count=number - 1
    ).update(
        attempt_count=number,
        next_attempt_at=None,
        presumed_lost_at=timezone.now() + _attempt_lease(),
    )
    return number if claimed else None


def attempt_delivery(delivery_pk, attempt_number=None):
    """Make attempt `attempt_number` (default: the next) of a pending delivery and record
    it; schedule the one after when the failure is worth retrying and attempts remain.
    Returns the delivery's status, or None when there was nothing for this worker to do."""
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_pk).first()
    if delivery is None:
        log.info("webhook delivery %s: gone with its endpoint", delivery_pk)
        return None
    if delivery.status != Status.PENDING:
        return delivery.status
    endpoint = delivery.endpoint
    if not endpoint.enabled and delivery.event_type != TEST_EVENT:
        # Only as this worker read it: never under an attempt another worker is making.
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status=Status.PENDING, attempt_count=delivery.attempt_count
        ).update(
            status=Status.CANCELLED,
            next_attempt_at=None,
            presumed_lost_at=None,
            finished_at=timezone.now(),
        )
        return Status.CANCELLED
    number = claim_next_attempt(delivery, attempt_number)
    if number is None:
        log.info(
            "webhook delivery %s: attempt %s was already made or taken by another worker",
            delivery.pk,
            attempt_number or delivery.attempt_count + 1,
        )
        return None

    started_at = timezone.now()
    result = client.post_event(
        endpoint.url, delivery.body, secrets=endpoint.signing_secrets(), event_id=delivery.event_id
    )
    if result.succeeded:
        outcome, status = Outcome.SUCCEEDED, Status.SUCCEEDED
    elif result.retryable and number < settings.WEBHOOK_MAX_ATTEMPTS:
        outcome, status = Outcome.RETRYING, Status.PENDING
    else:
        outcome, status = Outcome.FAILED, Status.FAILED
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=started_at,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            error=result.error,
            outcome=outcome,
        )
        if status == Status.PENDING:
            next_at = timezone.now() + timedelta(
                seconds=backoff_seconds(number, result.retry_after)
            )
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                next_attempt_at=next_at, presumed_lost_at=_queued_deadline(next_at)
            )
            # In the same transaction: the attempt and its follow-up commit together.
            queue.schedule_delivery(delivery.pk, number + 1, next_at)
        else:
            # Only if it is still this attempt's (a sweep may have taken it over).
            WebhookDelivery.objects.filter(
                pk=delivery.pk, status=Status.PENDING, attempt_count=number
            ).update(status=status, finished_at=timezone.now(), presumed_lost_at=None)
    log.info(
        "webhook %s %s to %s, attempt %d: %s%s",
        delivery.event_type,
        delivery.event_id,
        endpoint.redacted_url,
        number,
        outcome,
        f" ({result.error})" if result.error else "",
    )
    return status


# --- recovery (the schedule's side) ---

LOST_ATTEMPT_ERROR = (
    "No outcome recorded: the worker making this attempt stopped before it finished. The "
    "endpoint may have received it; the event ID (Webhook-Id header) lets it drop the "
    "duplicate."
)


def recover_stalled_deliveries(now=None):
    """Take over every pending delivery whose next step is overdue: a queued send or retry
    that never ran is queued again; an attempt that died with its worker is recorded as
    such (no outcome) and retried, or ends the delivery when it was the last one allowed.
    Returns what was done, counted."""
    now = now or timezone.now()
    long_ago = now - timedelta(seconds=settings.RECONCILE_STUCK_AFTER)
    # Made by a web process still running the code before this field (a rolling deploy):
    # overdue once it has been due for as long as a queued send may wait.
    unmarked_overdue = Q(presumed_lost_at=None, created_at__lt=long_ago) & (
        Q(next_attempt_at=None) | Q(next_attempt_at__lt=long_ago)
    )
    overdue = WebhookDelivery.objects.filter(status=Status.PENDING).filter(
        Q(presumed_lost_at__lt=now) | unmarked_overdue
    )
    found = Counter()
    for delivery in overdue.only("pk", "attempt_count", "presumed_lost_at", "created_at"):
        try:
            found[_take_over(delivery, now)] += 1
        except Exception:
            # One delivery that cannot be taken over must not keep the others waiting.
            log.exception("webhook delivery %s: could not be taken over", delivery.pk)
            found["could not be taken over (see the log)"] += 1
    return found


def _take_over(delivery, now):
    number = delivery.attempt_count
    with transaction.atomic():
        # Compare-and-set on what the sweep read: a worker that moved the delivery on
        # meanwhile keeps it.
        taken = WebhookDelivery.objects.filter(
            pk=delivery.pk,
            status=Status.PENDING,
            attempt_count=number,
            presumed_lost_at=delivery.presumed_lost_at,
        ).update(next_attempt_at=None, presumed_lost_at=_queued_deadline(now))
        if not taken:
            return "moved on meanwhile"
        lost_mid_attempt = (
            number > 0
            and not WebhookAttempt.objects.filter(delivery_id=delivery.pk, number=number).exists()
        )
        if lost_mid_attempt:
            last = number >= settings.WEBHOOK_MAX_ATTEMPTS
            started_at = (
                delivery.presumed_lost_at - _attempt_lease()  # when it was claimed
                if delivery.presumed_lost_at
                else delivery.created_at
            )
            WebhookAttempt.objects.create(
                delivery_id=delivery.pk,
                number=number,
                started_at=started_at,
                duration_ms=0,
                error=LOST_ATTEMPT_ERROR,
                outcome=Outcome.FAILED if last else Outcome.RETRYING,
            )
            if last:
                WebhookDelivery.objects.filter(pk=delivery.pk).update(
                    status=Status.FAILED, finished_at=now, presumed_lost_at=None
                )
                log.warning(
                    "webhook delivery %s: attempt %d lost with its worker; it was the "
                    "last, the delivery failed",
                    delivery.pk,
                    number,
                )
                return "lost mid-attempt, failed"
        queue.enqueue_delivery(delivery.pk, number + 1)
    log.warning(
        "webhook delivery %s: %s; attempt %d queued again",
        delivery.pk,
        f"attempt {number} lost with its worker"
        if lost_mid_attempt
        else "its queued send never ran",
        number + 1,
    )
    return "lost mid-attempt, retried" if lost_mid_attempt else "re-queued"
