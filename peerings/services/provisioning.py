"""The worker's side of a new peering: accept the request in AWS, wait for it to be
active, add the vendor-side routes and rules, mark it running. AWS first, outside any
transaction; each step is idempotent and each transition compare-and-set."""

import logging

from django.conf import settings

from core.reasons import Reason
from peerings import aws, queue
from peerings.models import PeeringConnection
from peerings.services.checks import Refused, request_problems
from peerings.services.transitions import Status, fail, transition

log = logging.getLogger(__name__)

# How often the worker re-schedules a peering while AWS keeps failing, before it gives up
# and lets the customer press Retry.
MAX_UNAVAILABLE_ROUNDS = 10

# AWS quotas a busy deployment reaches: say which (a code of core/reasons.py), so the
# customer knows it is not them.
QUOTA_REASONS = {
    "RulesPerSecurityGroupLimitExceeded": "quota_rules",
    "RouteLimitExceeded": "quota_routes",
    "VpcPeeringConnectionLimitExceeded": "quota_peerings",
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
        reason = exc.reason()
        fail(peering, reason_code=reason.code, reason_params=dict(reason.params), retryable=False)
    except aws.PeeringNotActive as exc:
        fail(
            peering,
            reason_code="peering_not_active",
            reason_params={"state": exc.state, "aws_message": str(exc)},
            retryable=False,
        )
    except aws.RouteConflict as exc:
        # Only the vendor can change the deployment's routes: a Retry would fail the same
        # way until support has (support marks the cause fixed, which offers Retry again).
        log.warning("provision %s: %s", peering, exc.for_support())
        fail(
            peering, reason_code="route_conflict", reason_params={"cidr": exc.cidr}, retryable=False
        )
    except aws.AwsRefused as exc:
        log.exception("provision %s: AWS refused (%s)", peering, exc.code)
        fail(peering, reason_code=QUOTA_REASONS.get(exc.code, "aws_rejected"), retryable=False)
    except aws.AwsUnavailable as exc:
        log.warning(
            "provision %s: AWS unavailable (%s), round %d",
            peering,
            exc.code,
            unavailable_rounds + 1,
        )
        if unavailable_rounds + 1 >= MAX_UNAVAILABLE_ROUNDS:
            misconfigured = isinstance(exc, aws.AwsMisconfigured)
            fail(
                peering,
                reason_code="setup_misconfigured" if misconfigured else "setup_unavailable",
                retryable=True,
            )
        else:
            queue.enqueue_provision(
                peering,
                delay=queue.retry_delay(unavailable_rounds + 1),
                unavailable_rounds=unavailable_rounds + 1,
            )
    return peering.status


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
    added: list[Reason] | None = None,
    network: aws.Network | None = None,
) -> list[Reason]:
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
                    Reason(
                        "finding_route_added",
                        {
                            "cidr": cidr,
                            "peering_id": peering.peering_id,
                            "route_table_id": table_id,
                        },
                    )
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
                added.append(Reason("finding_ingress_added", {"cidr": cidr, "port": port}))
    return added
