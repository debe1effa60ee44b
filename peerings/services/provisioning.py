"""The worker's side of a new peering: accept the request in AWS, wait for it to be
active, add the vendor-side routes and rules, mark it running. AWS first, outside any
transaction; each step is idempotent and each transition compare-and-set."""

import logging

from django.conf import settings

from peerings import aws, queue
from peerings.models import PeeringConnection
from peerings.services.checks import Refused, request_problems
from peerings.services.transitions import Status, fail, transition

log = logging.getLogger(__name__)

# How often the worker re-schedules a peering while AWS keeps failing, before it gives up
# and lets the customer press Retry.
MAX_UNAVAILABLE_ROUNDS = 10

# AWS quotas a busy deployment reaches: say which, so the customer knows it is not them.
QUOTA_REASONS = {
    "RulesPerSecurityGroupLimitExceeded": (
        "The deployment's security group has reached AWS's limit of rules (60 by default), "
        "so no more VPC peerings fit."
    ),
    "RouteLimitExceeded": (
        "The deployment's route table has reached AWS's limit of routes (50 by default), "
        "so no more VPC peerings fit."
    ),
    "VpcPeeringConnectionLimitExceeded": (
        "The deployment's VPC has reached AWS's limit of active VPC peerings."
    ),
}


def provision(peering_pk: int, *, unavailable_rounds: int = 0) -> str:
    """Accept the request, wait for it to be active, add the vendor-side routes and rules,
    and mark the peering running. Safe to run any number of times, from any point: each
    step is idempotent and each transition is compare-and-set. Returns the status."""
    peering = PeeringConnection.objects.select_related("deployment").get(pk=peering_pk)
    if peering.status not in (Status.PENDING, Status.PROVISIONING):
        log.info("provision %s: nothing to do in status %s", peering, peering.status)
        return peering.status
    deployment = peering.deployment
    try:
        ec2 = aws.Ec2(deployment.region, deployment.vendor_account_id)
        if peering.status == Status.PENDING:
            _accept(peering, ec2=ec2)
        if peering.status == Status.PROVISIONING:
            ensure_vendor_side(peering, ec2=ec2)
            transition(
                peering,
                to=Status.RUNNING,
                allowed_from=[Status.PROVISIONING],
                action="peering.running",
            )
    except Refused as exc:
        fail(peering, reason=str(exc), retryable=False)
    except aws.PeeringNotActive as exc:
        fail(
            peering,
            reason=f"AWS reports the peering connection as {exc.state}: {exc}. "
            "Create a new request and delete this peering.",
            retryable=False,
        )
    except aws.RouteConflict as exc:
        # Only the vendor can change the deployment's routes: a Retry would fail the same
        # way until support has (support marks the cause fixed, which offers Retry again).
        log.warning("provision %s: %s", peering, exc.for_support())
        fail(peering, reason=f"{exc} {ASK_SUPPORT}", retryable=False)
    except aws.AwsRefused as exc:
        log.exception("provision %s: AWS refused (%s)", peering, exc.code)
        fail(peering, reason=_refusal_reason(exc.code), retryable=False)
    except aws.AwsUnavailable as exc:
        log.warning(
            "provision %s: AWS unavailable (%s), round %d",
            peering,
            exc.code,
            unavailable_rounds + 1,
        )
        if unavailable_rounds + 1 >= MAX_UNAVAILABLE_ROUNDS:
            if isinstance(exc, aws.AwsMisconfigured):
                why = (
                    "The set-up stopped: the portal's own AWS set-up has a problem, and our "
                    "support team has been alerted. Nothing is lost: press Retry once it is "
                    "fixed."
                )
            else:
                why = (
                    "AWS did not answer for several minutes, so the set-up stopped. "
                    "Nothing is lost: press Retry."
                )
            fail(peering, reason=why, retryable=True)
        else:
            queue.enqueue_provision(
                peering,
                delay=queue.retry_delay(unavailable_rounds + 1),
                unavailable_rounds=unavailable_rounds + 1,
            )
    return peering.status


ASK_SUPPORT = (
    "Only our support team can fix this: ask support, and Retry is offered once they have."
)


def _refusal_reason(code: str) -> str:
    """In the customer's words: no AWS error codes (support sees the code in our log)."""
    if code in QUOTA_REASONS:
        return (
            f"{QUOTA_REASONS[code]} Ask our support team to raise the limit (Retry is "
            "offered once they have), or delete a peering you no longer use."
        )
    return f"AWS refused a step of the set-up. {ASK_SUPPORT}"


def _accept(peering: PeeringConnection, *, ec2: aws.Ec2) -> None:
    deployment = peering.deployment
    # The request may have changed since the customer confirmed: check it all again.
    in_aws = ec2.describe_peering(peering.peering_id)
    errors = request_problems(
        deployment,
        in_aws=in_aws,
        peering_id=peering.peering_id,
        account_id=peering.customer_account_id,
        vpc_id=peering.customer_vpc_id,
        exclude_pk=peering.pk,
        accepted_ok=True,
    )
    if errors:
        raise Refused(errors)
    if in_aws.status == "pending-acceptance":
        ec2.accept_peering(peering.peering_id)
    ec2.wait_until_active(peering.peering_id, settings.PEERING_ACTIVE_TIMEOUT)
    transition(
        peering,
        to=Status.PROVISIONING,
        allowed_from=[Status.PENDING],
        action="peering.provisioning",
    )


def ensure_vendor_side(
    peering: PeeringConnection,
    *,
    ec2: aws.Ec2,
    added: list[str] | None = None,
    network: aws.Network | None = None,
) -> list[str]:
    """Routes to the pcx in every route table of the deployment VPC and ingress on every
    service port, each added only if missing from `network` (the deployment's side as read;
    read here when not given): nothing already there is written. Returns what had to be
    added, appended to `added` as it goes, so that a caller stopped by AWS half-way still
    knows what it did."""
    deployment = peering.deployment
    added = [] if added is None else added
    if network is None:
        network = ec2.network(deployment.vpc_id, deployment.security_group_id)
    for table_id, routes in network.route_tables.items():
        for cidr in peering.customer_cidrs:
            if ec2.ensure_route(table_id, cidr, peering.peering_id, routes) != "exists":
                added.append(
                    f"Route {cidr} → {peering.peering_id} in {table_id} was missing; added."
                )
    for cidr in peering.customer_cidrs:
        for port in deployment.service_ports:
            outcome = ec2.ensure_ingress(
                deployment.security_group_id,
                cidr,
                port,
                f"VPC peering {peering.peering_id}",
                existing=network.ingress,
            )
            if outcome == "created":
                added.append(f"Ingress from {cidr} on port {port} was missing; added.")
    return added
