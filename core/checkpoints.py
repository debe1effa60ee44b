"""The audit chain's anchor. The hash chain shows a row changed, inserted or removed in its
middle, but not rows removed from its newest end, nor an emptied table: what is left still
links up. A checkpoint records the head (newest event and its hash) and the number of
events, on a schedule, and logs the same on the `audit.checkpoint` logger so that an
operator can keep a copy out of the database's reach. `rows_missing` compares the log with
every checkpoint."""

import logging
from dataclasses import dataclass

from django.db import transaction

from core.audit import _lock_chain
from core.models import AuditCheckpoint, AuditEvent

log = logging.getLogger("audit.checkpoint")


def write_checkpoint():
    """Record the chain's head and length now, and log them in one line; first, log an error
    when the log no longer holds what the previous checkpoint vouched for, so that an
    operator hears of it within one interval, not at the next verify_audit_chain."""
    with transaction.atomic():
        # Under the chain's lock: no event is being added while head and count are read.
        _lock_chain()
        previous = AuditCheckpoint.objects.order_by("-id").first()
        head = AuditEvent.objects.order_by("-id").values("id", "hash").first() or {}
        checkpoint = AuditCheckpoint.objects.create(
            head_event_id=head.get("id"),
            head_hash=head.get("hash", ""),
            event_count=AuditEvent.objects.count(),
        )
        if previous and not _still_holds(previous, checkpoint.event_count):
            log.error(
                "audit chain: events vouched for by checkpoint %s are missing or changed; "
                "run `manage.py verify_audit_chain`",
                previous.pk,
                extra={"audit_checkpoint": previous.pk},
            )
    log.info(
        "audit checkpoint %s: %s events, head event %s, hash %s",
        checkpoint.pk,
        checkpoint.event_count,
        checkpoint.head_event_id,
        checkpoint.head_hash or "-",
        extra={
            "audit_checkpoint": checkpoint.pk,
            "audit_event_count": checkpoint.event_count,
            "audit_head_event": checkpoint.head_event_id,
            "audit_head_hash": checkpoint.head_hash,
        },
    )
    return checkpoint


def _still_holds(previous, count_now):
    """The previous checkpoint's head is there, unchanged, with as many events up to it as
    it counted. Two indexed reads: the events since its head are few."""
    if previous.head_event_id is None:
        return True
    newer = AuditEvent.objects.filter(id__gt=previous.head_event_id).count()
    head_there = AuditEvent.objects.filter(
        id=previous.head_event_id, hash=previous.head_hash
    ).exists()
    return head_there and count_now - newer == previous.event_count


@dataclass(frozen=True)
class _Found:
    """The log as it is now up to a checkpoint's head event."""

    count: int
    head_hash: str | None  # None: the head event is gone


def rows_missing():
    """A message about the newest checkpoint the log no longer matches (its head event gone
    or changed, or fewer events up to it than it counted), or None when the log holds
    everything every checkpoint vouched for. One pass over the log, oldest first."""
    checkpoints = [c for c in AuditCheckpoint.objects.order_by("id") if c.head_event_id]
    heads = sorted({c.head_event_id for c in checkpoints})
    found: dict[int, _Found] = {}
    seen = 0
    pending = iter(heads)
    head = next(pending, None)
    rows = AuditEvent.objects.order_by("id").values_list("id", "hash")
    for event_id, event_hash in rows.iterator(chunk_size=5000):
        while head is not None and head < event_id:  # passed it: that event is gone
            found[head] = _Found(seen, None)
            head = next(pending, None)
        seen += 1
        if head == event_id:
            found[head] = _Found(seen, event_hash)
            head = next(pending, None)
    while head is not None:
        found[head] = _Found(seen, None)
        head = next(pending, None)

    failing = [c for c in checkpoints if _disagreement(c, found[c.head_event_id])]
    if not failing:
        return None
    newest = failing[-1]
    why = _disagreement(newest, found[newest.head_event_id])
    return (
        f"Checkpoint {newest.pk} of {newest.created_at:%Y-%m-%d %H:%M:%S} counted "
        f"{newest.event_count} events up to event {newest.head_event_id} (hash "
        f"{newest.head_hash}): {why} ({len(failing)} of {len(checkpoints)} checkpoints "
        "disagree with the log)."
    )


def _disagreement(checkpoint, found):
    missing = checkpoint.event_count - found.count
    if found.head_hash is None:
        return (
            f"that event is gone and {found.count} events are left up to it, {missing} "
            "missing (rows removed from the newest end, or the table emptied)"
        )
    if found.head_hash != checkpoint.head_hash:
        return f"that event's hash is now {found.head_hash} (it was replaced)"
    if missing > 0:
        return f"{found.count} events are left up to it, {missing} missing"
    if missing < 0:
        return f"{found.count} events are there up to it, {-missing} more than it counted"
    return ""
