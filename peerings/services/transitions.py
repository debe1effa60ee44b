"""Moving a peering from one status to the next: compare-and-set on the row, audited, and
announced (peering_status_changed) in the same transaction."""

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.dispatch import Signal

from core import audit
from peerings.models import PeeringConnection

Status = PeeringConnection.Status

# Sent once per status change, inside the transaction that made it, with `peering` (now in
# its new status), `previous` (the old status word) and `event` (its AuditEvent).
peering_status_changed = Signal()


def transition(
    peering: PeeringConnection,
    *,
    to: str,
    allowed_from: Iterable[str],
    action: str,
    reason: str = "",
    retryable: bool = False,
    only_if: dict[str, Any] | None = None,
) -> bool:
    """Move `peering` to `to` if it is still in one of `allowed_from` (and matches
    `only_if`), recording `action`. False for the caller that lost the race."""
    with transaction.atomic():
        before = {"status": peering.status, "status_reason": peering.status_reason}
        if not peering.move(
            to, allowed_from=list(allowed_from), reason=reason, retryable=retryable, only_if=only_if
        ):
            return False
        event = audit.record(
            action, target=peering, before=before, after={"status": to, "status_reason": reason}
        )
        # Inside the transaction: receivers (webhooks) queue their work on commit, so a
        # rolled-back change notifies nobody.
        peering_status_changed.send(
            sender=PeeringConnection, peering=peering, previous=before["status"], event=event
        )
    return True


def fail(
    peering: PeeringConnection,
    *,
    reason: str,
    retryable: bool,
    allowed_from: Iterable[str] = (Status.PENDING, Status.PROVISIONING),
) -> bool:
    return transition(
        peering,
        to=Status.FAILED,
        allowed_from=allowed_from,
        action="peering.failed",
        reason=reason,
        retryable=retryable,
    )


def peering_snapshot(peering: PeeringConnection) -> dict[str, Any]:
    """What the audit log keeps of a peering when it is created."""
    return {
        "peering_id": peering.peering_id,
        "customer_account_id": peering.customer_account_id,
        "customer_vpc_id": peering.customer_vpc_id,
        "customer_cidrs": peering.customer_cidrs,
        "status": peering.status,
    }
