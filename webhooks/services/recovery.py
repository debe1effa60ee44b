"""The schedule's side: take over deliveries whose queued send, scheduled retry or running
attempt was lost with a worker or a broker."""

import logging
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.reasons import Reason
from webhooks import queue
from webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
)
from webhooks.services.sending import attempt_lease, queued_deadline

log = logging.getLogger(__name__)
Status = WebhookDelivery.Status
Outcome = WebhookAttempt.Outcome


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
        ).update(next_attempt_at=None, presumed_lost_at=queued_deadline(now))
        if not taken:
            return "moved on meanwhile"
        lost_mid_attempt = (
            number > 0
            and not WebhookAttempt.objects.filter(delivery_id=delivery.pk, number=number).exists()
        )
        if lost_mid_attempt:
            last = number >= settings.WEBHOOK_MAX_ATTEMPTS
            started_at = (
                delivery.presumed_lost_at - attempt_lease()  # when it was claimed
                if delivery.presumed_lost_at
                else delivery.created_at
            )
            WebhookAttempt.objects.create(
                delivery_id=delivery.pk,
                number=number,
                started_at=started_at,
                duration_ms=0,
                outcome=Outcome.FAILED if last else Outcome.RETRYING,
                **WebhookAttempt.error_fields(Reason("webhook_attempt_lost")),
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
