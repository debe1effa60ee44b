"""The task's side: claim the next attempt of a delivery, send it once, record its outcome
and schedule the retry (with backoff) or give up."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.reasons import english
from webhooks import client, queue
from webhooks.events import TEST_EVENT
from webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
)

log = logging.getLogger(__name__)
Status = WebhookDelivery.Status
Outcome = WebhookAttempt.Outcome

# Retries wait 30 s, 1 min, 2 min, 4 min, … never more than an hour.
BACKOFF_FIRST_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600


def backoff_seconds(attempt_number, retry_after=None):
    """How long to wait after failed attempt `attempt_number` (1-based). An endpoint's
    Retry-After may lengthen the wait, up to the cap, never shorten it."""
    delay = min(BACKOFF_FIRST_SECONDS * 2 ** (attempt_number - 1), BACKOFF_MAX_SECONDS)
    if retry_after:
        delay = min(max(delay, retry_after), BACKOFF_MAX_SECONDS)
    return delay


def queued_deadline(due):
    # A queued send or a scheduled retry that no worker has started this long after it was
    # due was lost (a flushed broker, a deleted schedule); so reconcile counts peerings.
    return due + timedelta(seconds=settings.RECONCILE_STUCK_AFTER)


def attempt_lease():
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
        presumed_lost_at=timezone.now() + attempt_lease(),
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
            outcome=outcome,
            **WebhookAttempt.error_fields(result.error),
        )
        if status == Status.PENDING:
            next_at = timezone.now() + timedelta(
                seconds=backoff_seconds(number, result.retry_after)
            )
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                next_attempt_at=next_at, presumed_lost_at=queued_deadline(next_at)
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
        # Logs are read by our operators: English, whatever language is active.
        f" ({english(result.error.code, result.error.params)})" if result.error else "",
    )
    return status
