"""A customer's confirmed request becomes a `pending` peering, and a failed one may be
tried again; either way the worker that accepts it is queued on commit."""

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from core import audit
from core.reasons import Reason
from peerings import queue
from peerings.models import Deployment, PeeringConnection
from peerings.services.checks import (
    Refused,
    UnverifiedRequest,
    VerifiedRequest,
    database_problems,
)
from peerings.services.transitions import Status, peering_snapshot, transition


def create_peering(
    deployment: Deployment, *, verified: VerifiedRequest, user: User | None
) -> PeeringConnection:
    """Record a request that `check_new_peering` verified for this deployment as `pending`,
    and queue the worker that accepts it. Anything else is refused (UnverifiedRequest)."""
    if not isinstance(verified, VerifiedRequest) or verified.deployment_pk != deployment.pk:
        raise UnverifiedRequest(
            f"Not a request verified for deployment {deployment.pk}: pass what "
            "check_new_peering() returned for it."
        )
    if not deployment.peering_allowed:
        raise Refused({None: [Reason("plan_not_allowed", {"plan": deployment.get_plan_display()})]})
    try:
        with transaction.atomic():
            peering = PeeringConnection.objects.create(
                deployment=deployment,
                peering_id=verified.peering_id,
                customer_account_id=verified.account_id,
                customer_vpc_id=verified.vpc_id,
                customer_cidrs=verified.cidrs,
                created_by=user,
            )
            audit.record("peering.created", target=peering, after=peering_snapshot(peering))
            queue.enqueue_provision(peering)
    except IntegrityError:
        # Two clicks or two browsers raced past the checks; the constraint picked one.
        raise Refused(
            database_problems(deployment, peering_id=verified.peering_id, vpc_id=verified.vpc_id)
            or {None: [Reason("created_meanwhile")]}
        ) from None
    return peering


def retry_peering(peering: PeeringConnection) -> bool:
    """failed → pending, and queue the worker again. False if it was not retryable."""
    with transaction.atomic():
        if not transition(
            peering,
            to=Status.PENDING,
            allowed_from=[Status.FAILED],
            action="peering.retried",
            only_if={"retryable": True},
        ):
            return False
        queue.enqueue_provision(peering)
    return True
