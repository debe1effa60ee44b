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
    reason_code: str = "",
    reason_params: dict[str, Any] | None = None,
    retryable: bool = False,
    only_if: dict[str, Any] | None = None,
) -> bool:
    """Move `peering` to `to` if it is still in one of `allowed_from` (and matches
    `only_if`), recording `action`, with the reason `reason_code` (core/reasons.py) and its
    parameters. False for the caller that lost the race."""
    with transaction.atomic():
        before = _reason_snapshot(peering)
        if not peering.move(
            to,
            allowed_from=list(allowed_from),
            reason_code=reason_code,
            reason_params=reason_params,
            retryable=retryable,
            only_if=only_if,
        ):
            return False
        event = audit.record(action, target=peering, before=before, after=_reason_snapshot(peering))
        # Inside the transaction: receivers (webhooks) queue their work on commit, so a
        # rolled-back change notifies nobody.
        peering_status_changed.send(
            sender=PeeringConnection, peering=peering, previous=before["status"], event=event
        )
    return True


def fail(
    peering: PeeringConnection,
    *,
    reason_code: str,
    reason_params: dict[str, Any] | None = None,
    retryable: bool,
    allowed_from: Iterable[str] = (Status.PENDING, Status.PROVISIONING),
) -> bool:
    return transition(
        peering,
        to=Status.FAILED,
        allowed_from=allowed_from,
        action="peering.failed",
        reason_code=reason_code,
        reason_params=reason_params,
        retryable=retryable,
    )


def _reason_snapshot(peering: PeeringConnection) -> dict[str, Any]:
    """Its status and reason as the audit log keeps them: the code and its parameters (each
    reader reads them in their language); the English of a row older than the codes."""
    snapshot: dict[str, Any] = {
        "status": peering.status,
        "status_reason_code": peering.status_reason_code,
        "status_reason_params": peering.status_reason_params,
    }
    if peering.status_reason_text:
        snapshot["status_reason"] = peering.status_reason_text
    return snapshot


def peering_snapshot(peering: PeeringConnection) -> dict[str, Any]:
    """What the audit log keeps of a peering when it is created."""
    return {
        "peering_id": peering.peering_id,
        "customer_account_id": peering.customer_account_id,
        "customer_vpc_id": peering.customer_vpc_id,
        "customer_cidrs": peering.customer_cidrs,
        "status": peering.status,
    }
