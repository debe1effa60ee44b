"""Comparing our records with AWS: support's "Re-sync from AWS" for a few peerings, and the
reconcile schedule for all of them. Drift is acted on (a connection gone on the customer's
side becomes peer_deleted; a missing vendor route or rule is put back), and a peering stuck
in a transitional status has its lost task queued again."""

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from core import audit
from core.models import AuditEvent
from core.reasons import Reason
from peerings import aws, queue
from peerings.models import Deployment, PeeringConnection
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
    peering.refresh_from_db()  # the caller's row may be stale: this one may have moved
    deployment = peering.deployment
    ec2 = aws.Ec2(deployment.region, deployment.vendor_account_id)
    in_aws = ec2.describe_peering(peering.peering_id)
    return _act_on(
        peering,
        in_aws,
        ec2=ec2,
        network=_reader(ec2, deployment),
        record_when_clean=record_when_clean,
    )


def _reader(ec2: aws.Ec2, deployment: Deployment) -> Callable[[], aws.Network]:
    """The deployment's side in AWS, read on first use only, then kept (and kept up to date
    by the writes): one read for all its peerings, none when no peering needs it."""
    return functools.cache(
        functools.partial(ec2.network, deployment.vpc_id, deployment.security_group_id)
    )


def _act_on(
    peering: PeeringConnection,
    in_aws: aws.PeeringRequest | None,
    *,
    ec2: aws.Ec2,
    network: Callable[[], aws.Network],
    record_when_clean: bool,
) -> list[Reason]:
    """Compare one peering with what AWS has (`in_aws`, None when AWS does not know it)
    and write only what the difference needs. Shared by Re-sync and the reconcile."""
    deployment = peering.deployment
    state = in_aws.status if in_aws else "missing"
    findings: list[Reason] = []
    if peering.status in (Status.RUNNING, Status.FAILED) and state in GONE_IN_AWS:
        remove_vendor_side(peering, ec2=ec2, network=network())
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
        and peering.status == Status.RUNNING
        and network().lacks(peering.peering_id, peering.customer_cidrs, deployment.service_ports)
        # Only now, with something to write, ask the database whether a delete has moved the
        # row since it was read: a clean peering costs no query.
        and PeeringConnection.objects.filter(pk=peering.pk, status=Status.RUNNING).exists()
    ):
        try:
            ensure_vendor_side(peering, ec2=ec2, added=findings, network=network())
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
    out_of_time: int = 0

    def __str__(self) -> str:
        return (
            f"checked {self.checked} peerings: {self.peer_deleted} deleted on the customer "
            f"side, {self.repaired} repaired, {self.requeued} stuck and re-queued, "
            f"{self.unrepaired} AWS would not let us repair, "
            f"{self.unreachable} not checked (AWS unavailable), "
            f"{self.out_of_time} left for the next run (out of time)"
        )

    def add(self, other: "ReconcileReport") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


# Compared with AWS by the reconcile; transitional peerings are the worker's (or re-queued).
COMPARED = (Status.RUNNING, Status.FAILED)

# A batch: deployments of one (vendor account, region) whose peerings fit one page of
# DescribeVpcPeeringConnections, and at most 100 of them (AWS takes 200 values in a filter):
# a batch is then one page and at most 200 more reads, far inside Q_TIMEOUT.
BATCH_PEERINGS = aws.PEERINGS_PAGE_SIZE
BATCH_DEPLOYMENTS = 100


def batch_seconds() -> float:
    """How long one batch may compare before it stops and leaves the rest to the next run.
    Its reads usually take seconds, but each may wait up to AWS_BUDGET_MAX_WAIT for the
    shared budget when AWS is busy: half of Q_TIMEOUT keeps a batch from being killed
    half-way (and then retried from its start by the cluster)."""
    return settings.Q_TIMEOUT / 2


# Batches of the last scheduled run not finished yet, in the shared cache. While some
# wait, the schedule queues no new ones: under a long AWS slowdown the queue would otherwise
# gain a whole run's batches every RECONCILE_EVERY_MINUTES, ahead of nothing useful. A
# count lost with a killed worker expires with the key, so it holds runs back for an hour
# at most.
BACKLOG_KEY = "reconcile:batches-waiting"
BACKLOG_EXPIRES = 3600


def reconcile(*, stuck_after: int | None = None) -> ReconcileReport:
    """Compare every live peering with AWS and re-queue any that has sat in a transitional
    state longer than `stuck_after` seconds (its task was lost, say, with a killed worker),
    here and now, one batch after another (`reconcile_batches`; the schedule queues them
    instead, see `queue_reconcile`). Every finding is audited (as `system` when run by the
    schedule)."""
    report = requeue_stuck(stuck_after=stuck_after)
    for deployment_ids in reconcile_batches():
        report.add(reconcile_deployments(deployment_ids))
    log.info("reconcile: %s", report)
    return report


def queue_reconcile(*, stuck_after: int | None = None) -> str:
    """The schedule's reconcile: re-queue stuck peerings, and queue one task per batch, so
    that each is far inside Q_TIMEOUT, a slow or failing batch holds up no other, and a
    killed worker loses one batch's progress, not the run's."""
    report = requeue_stuck(stuck_after=stuck_after)
    waiting = reconcile_backlog()
    if waiting:
        log.warning("reconcile: %d batches of the last run still waiting; none queued", waiting)
        return (
            f"{report.requeued} stuck and re-queued; {waiting} batches of the last run still "
            f"waiting, so none queued"
        )
    batches = list(reconcile_batches())
    cache.set(BACKLOG_KEY, len(batches), timeout=BACKLOG_EXPIRES)
    for deployment_ids in batches:
        queue.enqueue_reconcile(deployment_ids)
    return f"{report.requeued} stuck and re-queued; {len(batches)} batches of deployments queued"


def reconcile_backlog() -> int:
    return max(cache.get(BACKLOG_KEY) or 0, 0)


def reconcile_batch_done() -> None:
    """One queued batch has finished (or failed): one fewer for the next run to wait for."""
    # ValueError: expired, or never set (the batch was queued by hand or by an older run).
    with contextlib.suppress(ValueError):
        cache.decr(BACKLOG_KEY)


def reconcile_batches() -> Iterator[list[int]]:
    """The IDs of deployments with peerings to compare, in batches (BATCH_PEERINGS,
    BATCH_DEPLOYMENTS) each within one (vendor account, region). One query."""
    counts = (
        PeeringConnection.objects.filter(status__in=COMPARED)
        .values("deployment__vendor_account_id", "deployment__region", "deployment_id")
        .annotate(peerings=Count("pk"))
        .order_by("deployment__vendor_account_id", "deployment__region", "deployment_id")
    )
    batch: list[int] = []
    place, peerings = None, 0
    for row in counts:
        row_place = (row["deployment__vendor_account_id"], row["deployment__region"])
        if batch and (
            row_place != place
            or peerings + row["peerings"] > BATCH_PEERINGS
            or len(batch) >= BATCH_DEPLOYMENTS
        ):
            yield batch
            batch, peerings = [], 0
        batch.append(row["deployment_id"])
        place, peerings = row_place, peerings + row["peerings"]
    if batch:
        yield batch


def reconcile_deployments(deployment_ids: Iterable[int]) -> ReconcileReport:
    """Compare the running and failed peerings of these deployments with AWS: per (vendor
    account, region) one paged DescribeVpcPeeringConnections, per deployment one
    DescribeRouteTables and one DescribeSecurityGroups (only when a peering of it needs
    them), compared in memory; written only what drifted. AWS unavailable for the batch:
    its peerings are counted unreachable, and the next run checks them again."""
    report = ReconcileReport()
    rows = (
        PeeringConnection.objects.filter(
            deployment_id__in=list(deployment_ids), status__in=COMPARED
        )
        .select_related("deployment__organization")
        .order_by("deployment_id", "pk")
    )
    places: dict[tuple[str, str], list[PeeringConnection]] = {}
    for peering in rows:
        deployment = peering.deployment
        places.setdefault((deployment.vendor_account_id, deployment.region), []).append(peering)
    deadline = time.monotonic() + batch_seconds()
    for (account_id, region), peerings in places.items():
        if time.monotonic() > deadline:
            report.out_of_time += len(peerings)
            continue
        report.checked += len(peerings)
        try:
            ec2 = aws.Ec2(region, account_id)
            in_aws = ec2.peerings_to({p.deployment.vpc_id for p in peerings})
        except aws.AwsUnavailable as exc:
            log.warning("reconcile %s in %s: AWS unavailable (%s)", account_id, region, exc.code)
            report.unreachable += len(peerings)
            continue
        except aws.AwsError as exc:
            log.warning("reconcile %s in %s: AWS refused (%s)", account_id, region, exc)
            for peering in peerings:
                _record_unrepaired(peering, exc)
            report.unrepaired += len(peerings)
            continue
        networks: dict[int, Callable[[], aws.Network]] = {}
        for done, peering in enumerate(peerings):
            if time.monotonic() > deadline:
                # Slow AWS (or a thin budget): stop here rather than be killed by Q_TIMEOUT;
                # the rest are compared by the next run.
                report.checked -= len(peerings) - done
                report.out_of_time += len(peerings) - done
                break
            if peering.deployment_id not in networks:
                networks[peering.deployment_id] = _reader(ec2, peering.deployment)
            _reconcile_one(
                peering,
                in_aws.get(peering.peering_id),
                ec2=ec2,
                network=networks[peering.deployment_id],
                report=report,
            )
    return report


def _reconcile_one(
    peering: PeeringConnection,
    in_aws: aws.PeeringRequest | None,
    *,
    ec2: aws.Ec2,
    network: Callable[[], aws.Network],
    report: ReconcileReport,
) -> None:
    try:
        findings = _act_on(peering, in_aws, ec2=ec2, network=network, record_when_clean=False)
    except aws.AwsUnavailable as exc:
        log.warning("reconcile %s: AWS unavailable (%s)", peering, exc.code)
        report.unreachable += 1
        return
    except aws.AwsError as exc:
        # Not an outage: AWS refused the repair (a route for the customer's CIDR that
        # points elsewhere, a quota, a permission). Someone has to act: say so.
        log.warning("reconcile %s: could not repair (%s)", peering, exc)
        _record_unrepaired(peering, exc)
        report.unrepaired += 1
        return
    if peering.status == Status.PEER_DELETED:
        report.peer_deleted += 1
    elif findings:
        report.repaired += 1


def requeue_stuck(*, stuck_after: int | None = None) -> ReconcileReport:
    """Re-queue every peering that has sat in a transitional status longer than
    `stuck_after` seconds (default RECONCILE_STUCK_AFTER). Database only, no AWS."""
    if stuck_after is None:
        stuck_after = settings.RECONCILE_STUCK_AFTER
    cutoff = timezone.now() - timedelta(seconds=stuck_after)
    report = ReconcileReport()
    transitional = PeeringConnection.objects.filter(status__in=PeeringConnection.TRANSITIONAL)
    for peering in _in_batches(transitional.select_related("deployment__organization")):
        report.checked += 1
        if peering.status_changed_at <= cutoff and _requeue(peering):
            report.requeued += 1
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
