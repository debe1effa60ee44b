"""Comparing our records with AWS: support's "Re-sync from AWS" for a few peerings, and the
reconcile schedule for all of them. Drift is acted on (a connection gone on the customer's
side becomes peer_deleted; a missing vendor route or rule is put back), and a peering stuck
in a transitional status has its lost task queued again."""

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core import audit
from core.models import AuditEvent
from core.reasons import Reason
from peerings import aws, queue
from peerings.models import PeeringConnection
from peerings.services.deleting import remove_vendor_side
from peerings.services.provisioning import ensure_vendor_side
from peerings.services.transitions import Status, transition

log = logging.getLogger(__name__)

GONE_IN_AWS = ("missing", "deleted", "deleting", "rejected", "expired", "failed")

# More peerings than this asked to re-sync at once are queued for the cluster: each takes
# a few AWS calls, and a page (and the web worker serving it) must not wait on dozens.
RESYNC_IN_REQUEST_LIMIT = 5


def resync(peering: PeeringConnection, *, record_when_clean: bool = True) -> list[Reason]:
    """Read the real AWS state of one peering and act on any difference: a connection the
    customer deleted, rejected or let expire becomes peer_deleted (our side is cleaned up);
    a running peering missing a vendor route or rule gets it back. Audited (the scheduled
    reconcile records only what it found, not every clean check); returns the findings."""
    peering.refresh_from_db()  # reconcile loads rows in batches: this one may have moved
    deployment = peering.deployment
    ec2 = aws.Ec2(deployment.region, deployment.vendor_account_id)
    in_aws = ec2.describe_peering(peering.peering_id)
    state = in_aws.status if in_aws else "missing"
    findings: list[Reason] = []
    if peering.status in (Status.RUNNING, Status.FAILED) and state in GONE_IN_AWS:
        remove_vendor_side(peering, ec2=ec2)
        if transition(
            peering,
            to=Status.PEER_DELETED,
            allowed_from=[Status.RUNNING, Status.FAILED],
            action="peering.peer_deleted",
            reason_code="deleted_by_customer",
            reason_params={"state": state},
        ):
            findings.append(Reason("finding_peer_deleted", {"state": state}))
    elif (
        state == "active"
        and PeeringConnection.objects.filter(pk=peering.pk, status=Status.RUNNING).exists()
    ):
        try:
            ensure_vendor_side(peering, ec2=ec2, added=findings)
        except aws.AwsError as exc:
            if findings:  # what was put right before AWS stopped us is on record all the same
                audit.record(
                    "peering.resynced",
                    target=peering,
                    after={
                        "aws_status": state,
                        "status": peering.status,
                        "findings": [f.as_param() for f in findings],
                        "stopped_by": exc.code,
                    },
                )
            raise
    if findings or record_when_clean:
        audit.record(
            "peering.resynced",
            target=peering,
            after={
                "aws_status": state,
                "status": peering.status,
                "findings": [f.as_param() for f in findings],
            },
        )
    return findings


def request_resync(
    peerings: Iterable[PeeringConnection],
) -> list[tuple[PeeringConnection, list[Reason], Reason | None]] | None:
    """Re-sync a few peerings now, returning [(peering, findings, why it failed or None)],
    or queue them all when there are many, returning None."""
    peerings = list(peerings)
    if len(peerings) > RESYNC_IN_REQUEST_LIMIT:
        for peering in peerings:
            queue.enqueue_resync(peering)
        return None
    results: list[tuple[PeeringConnection, list[Reason], Reason | None]] = []
    for peering in peerings:
        try:
            results.append((peering, resync(peering), None))
        except aws.AwsError as exc:
            results.append((peering, [], _why_not_resynced(exc)))
    return results


@dataclass(frozen=True)
class AwsView:
    """What AWS says of a peering connection right now: its state (`active`, `deleted`,
    ..., `missing` when AWS does not know it), or why AWS could not tell."""

    state: str | None
    problem: Reason | None = None


def state_in_aws(peering: PeeringConnection) -> AwsView:
    """One DescribeVpcPeeringConnections, for a person looking at the peering: with the
    short timeouts of a page (a silent AWS is reported within seconds), changing nothing."""
    deployment = peering.deployment
    try:
        ec2 = aws.Ec2(deployment.region, deployment.vendor_account_id, interactive=True)
        in_aws = ec2.describe_peering(peering.peering_id)
    except aws.AwsError as exc:
        return AwsView(state=None, problem=_why_not_resynced(exc))
    return AwsView(state=in_aws.status if in_aws else "missing")


def _why_not_resynced(exc: aws.AwsError) -> Reason:
    """For the support engineer and the audit log: an outage is not a refusal. AWS's own
    words stay in our log (they can name roles and accounts); our RouteConflict is ours."""
    if isinstance(exc, aws.AwsMisconfigured):
        return Reason("why_misconfigured", {"aws_code": exc.code})
    if isinstance(exc, aws.AwsUnavailable):
        return Reason("why_unavailable", {"aws_code": exc.code})
    if isinstance(exc, aws.RouteConflict):
        # The audit log records what we did in AWS, tables included (its findings name them).
        return Reason(
            "why_route_conflict", {"route_table_id": exc.route_table_id, "cidr": exc.cidr}
        )
    return Reason("why_refused", {"aws_code": exc.code})


def resync_queued(peering_pk: int) -> str:
    """A queued re-sync: nobody is watching a page, so even a failure goes to the audit
    log, where whoever asked looks for the results."""
    peering = PeeringConnection.objects.filter(pk=peering_pk).first()
    if peering is None:
        return "gone meanwhile"
    try:
        findings = resync(peering)
    except aws.AwsError as exc:
        log.warning("re-sync %s: %s", peering, exc)
        why = _why_not_resynced(exc)
        audit.record(
            "peering.resync_failed",
            target=peering,
            message_code="resync_failed_queued",
            message_params={"why": why.as_param()},
            after={"aws_error": exc.code},
        )
        return str(why)
    return " ".join(map(str, findings)) or "matches AWS"


@dataclass
class ReconcileReport:
    checked: int = 0
    peer_deleted: int = 0
    repaired: int = 0
    requeued: int = 0
    unreachable: int = 0
    unrepaired: int = 0

    def __str__(self) -> str:
        return (
            f"checked {self.checked} peerings: {self.peer_deleted} deleted on the customer "
            f"side, {self.repaired} repaired, {self.requeued} stuck and re-queued, "
            f"{self.unrepaired} AWS would not let us repair, "
            f"{self.unreachable} not checked (AWS unavailable)"
        )


def reconcile(*, stuck_after: int | None = None) -> ReconcileReport:
    """Compare every live peering with AWS (see `resync`), and re-queue any that has sat in
    a transitional state longer than `stuck_after` seconds: its task was lost, say, with a
    killed worker. Every finding is audited (as `system` when run by the schedule)."""
    if stuck_after is None:
        stuck_after = settings.RECONCILE_STUCK_AFTER
    cutoff = timezone.now() - timedelta(seconds=stuck_after)
    report = ReconcileReport()
    live = PeeringConnection.objects.exclude(status__in=PeeringConnection.ENDED).select_related(
        "deployment__organization"
    )
    for peering in _in_batches(live):
        report.checked += 1
        if peering.is_transitional:
            if peering.status_changed_at <= cutoff and _requeue(peering):
                report.requeued += 1
            continue
        try:
            findings = resync(peering, record_when_clean=False)
        except aws.AwsUnavailable as exc:
            log.warning("reconcile %s: AWS unavailable (%s)", peering, exc.code)
            report.unreachable += 1
            continue
        except aws.AwsError as exc:
            # Not an outage: AWS refused the repair (a route for the customer's CIDR that
            # points elsewhere, a quota, a permission). Someone has to act: say so.
            log.warning("reconcile %s: could not repair (%s)", peering, exc)
            _record_unrepaired(peering, exc)
            report.unrepaired += 1
            continue
        if peering.status == Status.PEER_DELETED:
            report.peer_deleted += 1
        elif findings:
            report.repaired += 1
    log.info("reconcile: %s", report)
    return report


def _record_unrepaired(peering: PeeringConnection, exc: aws.AwsError) -> None:
    # Once per distinct problem, not at every run of the schedule while it lasts.
    params = {"why": _why_not_resynced(exc).as_param()}
    last = (
        AuditEvent.objects.filter(target_type=type(peering).__name__, target_id=str(peering.pk))
        .order_by("-id")
        .values_list("action", "message_code", "message_params")
        .first()
    )
    if last != ("peering.resync_failed", "reconcile_unrepaired", params):
        audit.record(
            "peering.resync_failed",
            target=peering,
            message_code="reconcile_unrepaired",
            message_params=params,
            after={"aws_error": exc.code},
        )


def _in_batches(
    queryset: QuerySet[PeeringConnection], size: int = 500
) -> Iterator[PeeringConnection]:
    """Rows in pk order, loaded a batch at a time. Not a streaming cursor: the loop writes
    and queues tasks as it goes, and a broker may recycle the connection under a cursor."""
    last = 0
    while True:
        batch = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
        if not batch:
            return
        yield from batch
        last = batch[-1].pk


def _requeue(peering: PeeringConnection) -> bool:
    # Touch the row (compare-and-set on its status) so the next run does not queue it again
    # while this attempt is still on its way.
    touched = PeeringConnection.objects.filter(
        pk=peering.pk, status=peering.status, status_changed_at=peering.status_changed_at
    ).update(status_changed_at=timezone.now())
    if not touched:
        return False
    with transaction.atomic():
        audit.record(
            "peering.requeued",
            target=peering,
            after={"status": peering.status},
            message_code="requeued",
            message_params={"status": peering.status},
        )
        if peering.status == Status.DELETING:
            queue.enqueue_deprovision(peering)
        else:
            queue.enqueue_provision(peering)
    return True
