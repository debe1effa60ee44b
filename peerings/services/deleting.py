"""Deleting a peering: allowed from a stable status only and never while a resource is
bound (the database refuses it too); the worker then takes the vendor side down in AWS
and marks the row `deleted`, which stays for history."""

import logging
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from peerings import aws, queue
from peerings.models import PeeringConnection, Resource
from peerings.services.checks import live_peerings
from peerings.services.provisioning import MAX_UNAVAILABLE_ROUNDS
from peerings.services.transitions import Status, fail, transition

log = logging.getLogger(__name__)


class DeleteRefused(Exception):
    """Why a peering cannot be deleted now; `resources` lists what is still bound."""

    def __init__(self, message: str, resources: Iterable[Resource] = ()) -> None:
        super().__init__(message)
        self.resources = list(resources)


def delete_refusal(peering: PeeringConnection) -> DeleteRefused | None:
    """The reason a delete must be refused right now, or None."""
    if peering.status in PeeringConnection.TRANSITIONAL:
        return DeleteRefused(
            _("The peering is %(status)s. Wait until it is running or failed, then delete it.")
            % {"status": peering.status}
        )
    if peering.status not in PeeringConnection.DELETABLE:
        return DeleteRefused(_("The peering is already %(status)s.") % {"status": peering.status})
    bound = list(peering.resources.order_by("name"))
    if bound:
        names = ", ".join(r.name for r in bound)
        return DeleteRefused(
            _(
                "Resources still use this peering (%(names)s). Deleting it would cut them off: "
                "delete or move them first."
            )
            % {"names": names},
            bound,
        )
    return None


def request_delete(peering: PeeringConnection) -> None:
    """running / failed / peer_deleted → deleting, and queue the worker that takes the
    vendor side down. Raises DeleteRefused. The database refuses the move as well when a
    resource is bound (trigger), so a resource added meanwhile cannot slip through."""
    refusal = delete_refusal(peering)
    if refusal:
        raise refusal
    try:
        with transaction.atomic():
            if not transition(
                peering,
                to=Status.DELETING,
                allowed_from=PeeringConnection.DELETABLE,
                action="peering.delete_requested",
            ):
                raise DeleteRefused(_("Someone else changed this peering just now. Reload."))
            queue.enqueue_deprovision(peering)
    except IntegrityError:
        raise delete_refusal(peering) or DeleteRefused(
            _("A resource was bound to this peering just now; delete it first.")
        ) from None


def deprovision(peering_pk: int, *, unavailable_rounds: int = 0) -> str:
    """Revoke our rules, delete our routes (only those that point at this pcx), delete the
    pcx (the customer may have done so already), and mark the peering deleted. Returns the
    status."""
    peering = PeeringConnection.objects.select_related("deployment").get(pk=peering_pk)
    if peering.status != Status.DELETING:
        log.info("deprovision %s: nothing to do in status %s", peering, peering.status)
        return peering.status
    deployment = peering.deployment
    try:
        ec2 = aws.Ec2(deployment.region, deployment.vendor_account_id)
        remove_vendor_side(peering, ec2=ec2)
        ec2.delete_peering(peering.peering_id)
        # Once more: a reconcile that read this peering as running just before the delete
        # may have put a route or rule back meanwhile. Idempotent and cheap.
        remove_vendor_side(peering, ec2=ec2)
    except aws.AwsUnavailable as exc:
        log.warning(
            "deprovision %s: AWS unavailable (%s), round %d",
            peering,
            exc.code,
            unavailable_rounds + 1,
        )
        if unavailable_rounds + 1 < MAX_UNAVAILABLE_ROUNDS:
            queue.enqueue_deprovision(
                peering,
                delay=queue.retry_delay(unavailable_rounds + 1),
                unavailable_rounds=unavailable_rounds + 1,
            )
            return peering.status
        _fail_delete(peering, reason_code="delete_unavailable")
        return peering.status
    except aws.AwsError as exc:
        log.exception("deprovision %s: %s (%s)", peering, type(exc).__name__, exc.code)
        _fail_delete(peering, reason_code="delete_refused", reason_params={"aws_code": exc.code})
        return peering.status
    transition(peering, to=Status.DELETED, allowed_from=[Status.DELETING], action="peering.deleted")
    return peering.status


def _fail_delete(
    peering: PeeringConnection, *, reason_code: str, reason_params: dict[str, str] | None = None
) -> None:
    fail(
        peering,
        reason_code=reason_code,
        reason_params=reason_params,
        retryable=False,
        allowed_from=[Status.DELETING],
    )


def remove_vendor_side(
    peering: PeeringConnection, *, ec2: aws.Ec2, network: aws.Network | None = None
) -> None:
    """Revoke the peering's ingress rules and delete its routes in the deployment's VPC:
    only those `network` (the deployment's side as read; read here when not given) holds."""
    deployment = peering.deployment
    if network is None:
        network = ec2.network(deployment.vpc_id, deployment.security_group_id)
    # A rule is only (CIDR, port): a newer peering from a VPC with the same CIDR (allowed
    # once this one ended) needs the very same rule. Leave those.
    still_needed = {
        c for p in live_peerings(deployment, exclude_pk=peering.pk) for c in p.customer_cidrs
    }
    for cidr in peering.customer_cidrs:
        if cidr in still_needed:
            continue
        for port in deployment.service_ports:
            ec2.revoke_ingress(deployment.security_group_id, cidr, port, existing=network.ingress)
    for table_id, routes in network.route_tables.items():
        for cidr in peering.customer_cidrs:
            ec2.delete_route(table_id, cidr, peering.peering_id, routes)
