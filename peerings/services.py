"""Every state change of a peering goes through here: the views, the admin and the tasks
all call these functions, and each change is audited in the same transaction.

AWS is never called inside a database transaction: AWS work happens first (or in the
worker), then a short transaction records it. Work for the worker is queued through
peerings.queue, once the transaction that asked for it commits."""

import ipaddress
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone

from peerings import audit, aws, queue
from peerings.models import AuditEvent, PeeringConnection, Resource

log = logging.getLogger(__name__)
Status = PeeringConnection.Status

# Sent once per status change, inside the transaction that made it, with `peering` (now in
# its new status), `previous` (the old status word) and `event` (its AuditEvent).
peering_status_changed = Signal()

# How often the worker re-schedules a peering while AWS keeps failing, before it gives up
# and lets the customer press Retry.
MAX_UNAVAILABLE_ROUNDS = 10
UNAVAILABLE_DELAY_SECONDS = 60


class Refused(Exception):
    """What the customer asked for cannot be done as asked. `errors` maps each form field
    (or None for the whole form) to the messages that explain why."""

    def __init__(self, errors):
        super().__init__("; ".join(m for msgs in errors.values() for m in msgs))
        self.errors = errors

    def add_to(self, form):
        for field, messages in self.errors.items():
            for message in messages:
                form.add_error(field, message)


# --- checking a request against AWS ---

def live_peerings(deployment, exclude_pk=None):
    rows = deployment.peerings.exclude(status__in=PeeringConnection.ENDED)
    return rows.exclude(pk=exclude_pk) if exclude_pk else rows


def database_problems(deployment, peering_id, vpc_id):
    """What the database alone can refuse, before anyone asks AWS."""
    errors = {}
    taken = PeeringConnection.objects.exclude(status__in=PeeringConnection.ENDED)
    if peering_id and taken.filter(peering_id=peering_id).exists():
        errors["peering_id"] = [
            f"{peering_id} is already in use by a VPC peering in this portal."
        ]
    if vpc_id:
        existing = live_peerings(deployment).filter(customer_vpc_id=vpc_id).first()
        if existing:
            errors["vpc_id"] = [
                f"{vpc_id} is already peered with this deployment ({existing.peering_id}, "
                f"{existing.status}). Delete that peering first to replace it."
            ]
    return errors


def request_problems(deployment, request, peering_id, account_id, vpc_id, exclude_pk=None,
                     accepted_ok=False):
    """Every way the AWS request can disagree with the deployment or with what the customer
    typed, each as its own message on the field to fix. Pure: no AWS calls."""
    region = deployment.region
    if request is None:
        return {"peering_id": [
            f"No VPC peering connection {peering_id} exists in {region}, the deployment's "
            f"region, for account {deployment.vendor_account_id}. Check the ID, and that you "
            f"created the request in {region} with the peer account and VPC shown above."
        ]}
    errors = {}

    def add(field, message):
        errors.setdefault(field, []).append(message)

    acceptable = {"pending-acceptance"} | ({"active", "provisioning"} if accepted_ok else set())
    if request.status not in acceptable:
        add("peering_id", _status_message(request))
    if request.accepter_vpc_id != deployment.vpc_id:
        add("peering_id",
            f"{peering_id} asks to peer with VPC {request.accepter_vpc_id}, not with this "
            f"deployment's VPC {deployment.vpc_id}. Create a new request with "
            f"--peer-vpc-id {deployment.vpc_id}.")
    if request.accepter_account_id and request.accepter_account_id != deployment.vendor_account_id:
        add("peering_id",
            f"{peering_id} is addressed to account {request.accepter_account_id}, not to "
            f"{settings.VENDOR_NAME}'s account {deployment.vendor_account_id}.")
    if request.requester_region and request.requester_region != region:
        add("peering_id",
            f"The request comes from a VPC in {request.requester_region}. VPC peering is "
            f"only available within the same region: create it from a VPC in {region}.")
    if request.requester_account_id != account_id:
        add("account_id",
            f"The request in AWS comes from account {request.requester_account_id}, not "
            f"{account_id} that you entered.")
    if request.requester_vpc_id != vpc_id:
        add("vpc_id",
            f"The request in AWS comes from VPC {request.requester_vpc_id}, not {vpc_id} "
            f"that you entered.")
    for message in cidr_problems(deployment, request.requester_cidrs, exclude_pk):
        add("vpc_id", message)
    return errors


def capacity_problems(deployment, cidrs, exclude_pk=None):
    """Whether the deployment's security group and route tables have room for these CIDRs
    beside those of its live peerings: one ingress rule per CIDR and service port, one
    route per CIDR in each table (beside the table's own local route). Counted from our
    records, so AWS may still refuse for rules or routes added outside the portal; the
    provisioning failure then names the quota."""
    in_use = sum(len(p.customer_cidrs) for p in live_peerings(deployment, exclude_pk))
    wanted = in_use + len(cidrs)
    ports = deployment.service_ports
    rules_limit = settings.AWS_RULES_PER_SECURITY_GROUP
    routes_limit = settings.AWS_ROUTES_PER_ROUTE_TABLE - 1
    problems = []
    if wanted * len(ports) > rules_limit:
        problems.append(
            f"This deployment has no room for another VPC peering: its security group would "
            f"need {wanted * len(ports)} rules ({wanted} customer CIDRs × {len(ports)} "
            f"service ports), over AWS's limit of {rules_limit}."
        )
    elif wanted > routes_limit:
        problems.append(
            f"This deployment has no room for another VPC peering: its route tables would "
            f"need {wanted} routes to customer CIDRs, over AWS's limit of {routes_limit} "
            "beside the local route."
        )
    if problems:
        problems.append("Delete a peering you no longer use, or ask our support team to raise "
                        "the limit.")
    return problems


def _status_message(request):
    state = request.status
    if state in ("active", "provisioning"):
        return (f"{request.peering_id} has already been accepted (it is {state}). Create a new "
                "request for this deployment.")
    if state == "expired":
        return (f"{request.peering_id} has expired: AWS drops requests not accepted within 7 "
                "days. Create a new request.")
    if state == "rejected":
        return f"{request.peering_id} was rejected. Create a new request."
    if state in ("deleted", "deleting"):
        return f"{request.peering_id} has been deleted in AWS. Create a new request."
    if state == "failed":
        detail = f" AWS says: {request.status_message}." if request.status_message else ""
        return f"{request.peering_id} failed in AWS.{detail} Create a new request."
    return (f"{request.peering_id} is {state or 'in an unknown state'}, not waiting for "
            "acceptance. Wait a moment and confirm again.")


def cidr_problems(deployment, cidrs, exclude_pk=None):
    problems = []
    if not cidrs:
        return ["AWS did not report any IPv4 CIDR for your VPC."]
    others = [
        (ipaddress.IPv4Network(c), p.peering_id)
        for p in live_peerings(deployment, exclude_pk)
        for c in p.customer_cidrs
    ]
    for text in cidrs:
        network = ipaddress.IPv4Network(text)
        for reserved in settings.RESERVED_CIDRS:
            if network.overlaps(reserved):
                problems.append(
                    f"Your VPC uses {network}, which overlaps {reserved}: {settings.VENDOR_NAME} "
                    f"reserves that range. Peer from a VPC outside "
                    f"{', '.join(str(r) for r in settings.RESERVED_CIDRS)}."
                )
        if network.overlaps(deployment.network):
            problems.append(
                f"Your VPC uses {network}, which overlaps the deployment's CIDR "
                f"{deployment.cidr}. Traffic could not be routed; peer from a VPC with a "
                "different range."
            )
        for other, other_id in others:
            if network.overlaps(other):
                problems.append(
                    f"Your VPC uses {network}, which overlaps {other} of the deployment's "
                    f"existing peering {other_id}."
                )
    return problems


def check_new_peering(deployment, peering_id, account_id, vpc_id):
    """All the checks a new peering must pass before anything is saved. Returns what AWS
    reported; raises Refused, or aws.AwsUnavailable when AWS did not answer in time."""
    errors = database_problems(deployment, peering_id, vpc_id)
    if errors:
        raise Refused(errors)
    ec2 = aws.Ec2(deployment.region, deployment.vendor_account_id, interactive=True)
    request = ec2.describe_peering(peering_id)
    errors = request_problems(deployment, request, peering_id, account_id, vpc_id)
    if not errors:
        # Only here, before anything is saved: a peering already confirmed is never failed
        # for room (two racing for the last slot, or a Retry after support raised the AWS
        # quota but not our setting); AWS itself still refuses what does not fit.
        room = capacity_problems(deployment, request.requester_cidrs)
        if room:
            errors[None] = room
    if errors:
        raise Refused(errors)
    return request


# --- creating and retrying ---

@dataclass(frozen=True)
class NewPeering:
    peering_id: str
    account_id: str
    vpc_id: str
    cidrs: list


def create_peering(deployment, new, user):
    """Record a verified request as `pending` and queue the worker that accepts it."""
    if not deployment.peering_allowed:
        raise Refused({None: [
            f"VPC peering is not available on the {deployment.get_plan_display()} plan."
        ]})
    try:
        with transaction.atomic():
            peering = PeeringConnection.objects.create(
                deployment=deployment,
                peering_id=new.peering_id,
                customer_account_id=new.account_id,
                customer_vpc_id=new.vpc_id,
                customer_cidrs=new.cidrs,
                created_by=user,
            )
            audit.record("peering.created", target=peering, after=_snapshot(peering))
            queue.enqueue_provision(peering)
    except IntegrityError:
        # Two clicks or two browsers raced past the checks; the constraint picked one.
        raise Refused(database_problems(deployment, new.peering_id, new.vpc_id) or {
            None: ["This peering was just created by someone else. Reload the page."]
        }) from None
    return peering


def retry_peering(peering):
    """failed → pending, and queue the worker again. False if it was not retryable."""
    with transaction.atomic():
        if not _transition(peering, Status.PENDING, [Status.FAILED], "peering.retried",
                           only_if={"retryable": True}):
            return False
        queue.enqueue_provision(peering)
    return True


def _snapshot(peering):
    return {
        "peering_id": peering.peering_id,
        "customer_account_id": peering.customer_account_id,
        "customer_vpc_id": peering.customer_vpc_id,
        "customer_cidrs": peering.customer_cidrs,
        "status": peering.status,
    }


def _transition(peering, to, allowed_from, action, reason="", retryable=False, only_if=None):
    with transaction.atomic():
        before = {"status": peering.status, "status_reason": peering.status_reason}
        if not peering.move(to, allowed_from=allowed_from, reason=reason, retryable=retryable,
                            only_if=only_if):
            return False
        event = audit.record(action, target=peering, before=before,
                             after={"status": to, "status_reason": reason})
        # Inside the transaction: receivers (webhooks) queue their work on commit, so a
        # rolled-back change notifies nobody.
        peering_status_changed.send(sender=PeeringConnection, peering=peering,
                                    previous=before["status"], event=event)
    return True


def fail(peering, reason, *, retryable, allowed_from=(Status.PENDING, Status.PROVISIONING)):
    return _transition(peering, Status.FAILED, list(allowed_from), "peering.failed",
                       reason=reason, retryable=retryable)


# --- the worker's side ---

def provision(peering_pk, unavailable_rounds=0):
    """Accept the request, wait for it to be active, add the vendor-side routes and rules,
    and mark the peering running. Safe to run any number of times, from any point: each
    step is idempotent and each transition is compare-and-set."""
    peering = PeeringConnection.objects.select_related("deployment").get(pk=peering_pk)
    if peering.status not in (Status.PENDING, Status.PROVISIONING):
        log.info("provision %s: nothing to do in status %s", peering, peering.status)
        return peering.status
    deployment = peering.deployment
    try:
        ec2 = aws.Ec2(deployment.region, deployment.vendor_account_id)
        if peering.status == Status.PENDING:
            _accept(ec2, peering)
        if peering.status == Status.PROVISIONING:
            _ensure_vendor_side(ec2, peering)
            _transition(peering, Status.RUNNING, [Status.PROVISIONING], "peering.running")
    except Refused as exc:
        fail(peering, str(exc), retryable=False)
    except aws.PeeringNotActive as exc:
        fail(peering, f"AWS reports the peering connection as {exc.state}: {exc}. "
                      "Create a new request and delete this peering.", retryable=False)
    except aws.RouteConflict as exc:
        log.warning("provision %s: %s", peering, exc)
        fail(peering, str(exc), retryable=True)
    except aws.AwsRefused as exc:
        log.exception("provision %s: AWS refused (%s)", peering, exc.code)
        fail(peering, _refusal_reason(exc.code), retryable=True)
    except aws.AwsUnavailable as exc:
        log.warning("provision %s: AWS unavailable (%s), round %d", peering, exc.code,
                    unavailable_rounds + 1)
        if unavailable_rounds + 1 >= MAX_UNAVAILABLE_ROUNDS:
            if isinstance(exc, aws.AwsMisconfigured):
                why = (f"The set-up stopped: the portal's own AWS set-up has a problem "
                       f"({exc.code}), and our support team has been alerted. Nothing is "
                       "lost: press Retry once it is fixed.")
            else:
                why = ("AWS did not answer for several minutes, so the set-up stopped. "
                       "Nothing is lost: press Retry.")
            fail(peering, why, retryable=True)
        else:
            queue.enqueue_provision(peering, delay=UNAVAILABLE_DELAY_SECONDS,
                                    unavailable_rounds=unavailable_rounds + 1)
    return peering.status


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


def _refusal_reason(code):
    if code in QUOTA_REASONS:
        return (f"{QUOTA_REASONS[code]} Our support team can raise the limit; press Retry "
                "once they have, or delete a peering you no longer use.")
    return (f"AWS refused a step of the set-up ({code}). Our support team can see the "
            "details; press Retry once it is fixed.")


def _accept(ec2, peering):
    deployment = peering.deployment
    # The request may have changed since the customer confirmed: check it all again.
    request = ec2.describe_peering(peering.peering_id)
    errors = request_problems(
        deployment, request, peering.peering_id, peering.customer_account_id,
        peering.customer_vpc_id, exclude_pk=peering.pk, accepted_ok=True,
    )
    if errors:
        raise Refused(errors)
    if request.status == "pending-acceptance":
        ec2.accept_peering(peering.peering_id)
    ec2.wait_until_active(peering.peering_id, settings.PEERING_ACTIVE_TIMEOUT)
    _transition(peering, Status.PROVISIONING, [Status.PENDING], "peering.provisioning")


def _ensure_vendor_side(ec2, peering, added=None):
    """Routes to the pcx in every route table of the deployment VPC and ingress on every
    service port, each added only if missing. Returns what had to be added, appended to
    `added` as it goes, so that a caller stopped by AWS half-way still knows what it did."""
    deployment = peering.deployment
    added = [] if added is None else added
    for table_id, routes in ec2.route_tables(deployment.vpc_id).items():
        for cidr in peering.customer_cidrs:
            if ec2.ensure_route(table_id, cidr, peering.peering_id, routes) != "exists":
                added.append(f"Route {cidr} → {peering.peering_id} in {table_id} was "
                             "missing; added.")
    for cidr in peering.customer_cidrs:
        for port in deployment.service_ports:
            outcome = ec2.ensure_ingress(deployment.security_group_id, cidr, port,
                                         f"VPC peering {peering.peering_id}")
            if outcome == "created":
                added.append(f"Ingress from {cidr} on port {port} was missing; added.")
    return added


# --- deleting ---

class DeleteRefused(Exception):
    """Why a peering cannot be deleted now; `resources` lists what is still bound."""

    def __init__(self, message, resources=()):
        super().__init__(message)
        self.resources = list(resources)


def delete_refusal(peering):
    """The reason a delete must be refused right now, or None."""
    if peering.status in PeeringConnection.TRANSITIONAL:
        return DeleteRefused(
            f"The peering is {peering.status}. Wait until it is running or failed, then "
            "delete it."
        )
    if peering.status not in PeeringConnection.DELETABLE:
        return DeleteRefused(f"The peering is already {peering.status}.")
    bound = list(peering.resources.order_by("name"))
    if bound:
        names = ", ".join(r.name for r in bound)
        return DeleteRefused(
            f"Resources still use this peering ({names}). Deleting it would cut them off: "
            "delete or move them first.",
            bound,
        )
    return None


def request_delete(peering):
    """running / failed / peer_deleted → deleting, and queue the worker that takes the
    vendor side down. Raises DeleteRefused. The database refuses the move as well when a
    resource is bound (trigger), so a resource added meanwhile cannot slip through."""
    refusal = delete_refusal(peering)
    if refusal:
        raise refusal
    try:
        with transaction.atomic():
            if not _transition(peering, Status.DELETING, list(PeeringConnection.DELETABLE),
                               "peering.delete_requested"):
                raise DeleteRefused("Someone else changed this peering just now. Reload.")
            queue.enqueue_deprovision(peering)
    except IntegrityError:
        raise delete_refusal(peering) or DeleteRefused(
            "A resource was bound to this peering just now; delete it first."
        ) from None


def deprovision(peering_pk, unavailable_rounds=0):
    """Revoke our rules, delete our routes (only those that point at this pcx), delete the
    pcx (the customer may have done so already), and mark the peering deleted."""
    peering = PeeringConnection.objects.select_related("deployment").get(pk=peering_pk)
    if peering.status != Status.DELETING:
        log.info("deprovision %s: nothing to do in status %s", peering, peering.status)
        return peering.status
    deployment = peering.deployment
    try:
        ec2 = aws.Ec2(deployment.region, deployment.vendor_account_id)
        remove_vendor_side(ec2, peering)
        ec2.delete_peering(peering.peering_id)
        # Once more: a reconcile that read this peering as running just before the delete
        # may have put a route or rule back meanwhile. Idempotent and cheap.
        remove_vendor_side(ec2, peering)
    except aws.AwsUnavailable as exc:
        log.warning("deprovision %s: AWS unavailable (%s), round %d", peering, exc.code,
                    unavailable_rounds + 1)
        if unavailable_rounds + 1 < MAX_UNAVAILABLE_ROUNDS:
            queue.enqueue_deprovision(peering, delay=UNAVAILABLE_DELAY_SECONDS,
                                      unavailable_rounds=unavailable_rounds + 1)
            return peering.status
        _fail_delete(peering, "no answer for several minutes")
        return peering.status
    except aws.AwsError as exc:
        log.exception("deprovision %s: %s (%s)", peering, type(exc).__name__, exc.code)
        _fail_delete(peering, exc.code)
        return peering.status
    _transition(peering, Status.DELETED, [Status.DELETING], "peering.deleted")
    return peering.status


def _fail_delete(peering, why):
    fail(peering, f"Deleting stopped because AWS did not complete a step ({why}). Nothing is "
                  "left half-done that a second try cannot finish: press Delete again.",
         retryable=False, allowed_from=[Status.DELETING])


def remove_vendor_side(ec2, peering):
    deployment = peering.deployment
    # A rule is only (CIDR, port): a newer peering from a VPC with the same CIDR (allowed
    # once this one ended) needs the very same rule. Leave those.
    still_needed = {c for p in live_peerings(deployment, exclude_pk=peering.pk)
                    for c in p.customer_cidrs}
    for cidr in peering.customer_cidrs:
        if cidr in still_needed:
            continue
        for port in deployment.service_ports:
            ec2.revoke_ingress(deployment.security_group_id, cidr, port)
    for table_id, routes in ec2.route_tables(deployment.vpc_id).items():
        for cidr in peering.customer_cidrs:
            ec2.delete_route(table_id, cidr, peering.peering_id, routes)


# --- resources ---

def resource_problems(peering, host):
    """A host given as an IP must lie in the peering's customer CIDR."""
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        return {}  # a host name: resolved on the customer's side, accepted as is
    networks = [ipaddress.IPv4Network(c) for c in peering.customer_cidrs]
    if not any(address in n for n in networks):
        return {"host": [
            f"{address} is outside {', '.join(map(str, networks))}, the CIDR of your VPC "
            f"behind {peering.peering_id}: traffic to it would not go through the peering."
        ]}
    return {}


def add_resource(deployment, *, peering, name, kind, host, port):
    if peering.deployment_id != deployment.pk:
        raise Refused({"peering": ["Choose a VPC peering of this deployment."]})
    errors = resource_problems(peering, host)
    if errors:
        raise Refused(errors)
    try:
        with transaction.atomic():
            resource = Resource.objects.create(deployment=deployment, peering=peering,
                                               name=name, kind=kind, host=host, port=port)
            audit.record("resource.created", target=resource, after=_resource_snapshot(resource))
    except IntegrityError:
        # The trigger (peering no longer running) or the unique name; say which.
        peering.refresh_from_db()
        if peering.status != Status.RUNNING:
            raise Refused({"peering": [
                f"{peering.peering_id} is {peering.status} now; resources need a running "
                "VPC peering."
            ]}) from None
        raise Refused({"name": [f"A resource called {name} already exists."]}) from None
    return resource


def delete_resource(resource):
    with transaction.atomic():
        snapshot = _resource_snapshot(resource)
        deleted, _ = Resource.objects.filter(pk=resource.pk).delete()
        if deleted:  # a second click finds nothing left to delete, and records nothing
            audit.record("resource.deleted", target=resource, before=snapshot)


def _resource_snapshot(resource):
    return {"name": resource.name, "kind": resource.kind, "host": resource.host,
            "port": resource.port, "peering": resource.peering.peering_id}


# --- comparing with AWS (support's "Re-sync from AWS", and the reconcile schedule) ---

GONE_IN_AWS = ("missing", "deleted", "deleting", "rejected", "expired", "failed")


def resync(peering, *, record_when_clean=True):
    """Read the real AWS state of one peering and act on any difference: a connection the
    customer deleted, rejected or let expire becomes peer_deleted (our side is cleaned up);
    a running peering missing a vendor route or rule gets it back. Audited (the scheduled
    reconcile records only what it found, not every clean check); returns the findings."""
    peering.refresh_from_db()  # reconcile loads rows in batches: this one may have moved
    deployment = peering.deployment
    ec2 = aws.Ec2(deployment.region, deployment.vendor_account_id)
    request = ec2.describe_peering(peering.peering_id)
    state = request.status if request else "missing"
    findings = []
    if peering.status in (Status.RUNNING, Status.FAILED) and state in GONE_IN_AWS:
        remove_vendor_side(ec2, peering)
        reason = (f"The peering connection is {state} in AWS: it was deleted, rejected or "
                  "expired on your side. Resources using it cannot be reached; create a new "
                  "peering and move them.")
        if _transition(peering, Status.PEER_DELETED, [Status.RUNNING, Status.FAILED],
                       "peering.peer_deleted", reason=reason):
            findings.append(f"AWS has the connection {state}; marked peer_deleted and "
                            "removed our routes and rules.")
    elif state == "active" and PeeringConnection.objects.filter(
        pk=peering.pk, status=Status.RUNNING
    ).exists():
        try:
            _ensure_vendor_side(ec2, peering, findings)
        except aws.AwsError as exc:
            if findings:  # what was put right before AWS stopped us is on record all the same
                audit.record("peering.resynced", target=peering,
                             after={"aws_status": state, "status": peering.status,
                                    "findings": findings, "stopped_by": exc.code})
            raise
    if findings or record_when_clean:
        audit.record("peering.resynced", target=peering,
                     after={"aws_status": state, "status": peering.status,
                            "findings": findings})
    return findings


# More peerings than this asked to re-sync at once are queued for the cluster: each takes
# a few AWS calls, and a page (and the web worker serving it) must not wait on dozens.
RESYNC_IN_REQUEST_LIMIT = 5


def request_resync(peerings):
    """Re-sync a few peerings now, returning [(peering, findings, AWS error code or None)],
    or queue them all when there are many, returning None."""
    peerings = list(peerings)
    if len(peerings) > RESYNC_IN_REQUEST_LIMIT:
        for peering in peerings:
            queue.enqueue_resync(peering)
        return None
    results = []
    for peering in peerings:
        try:
            results.append((peering, resync(peering), None))
        except aws.AwsError as exc:
            results.append((peering, [], _why_not_resynced(exc)))
    return results


def _why_not_resynced(exc):
    """For the support engineer and the audit log: an outage is not a refusal. AWS's own
    words stay in our log (they can name roles and accounts); our RouteConflict is ours."""
    if isinstance(exc, aws.AwsMisconfigured):
        return f"the portal's own AWS set-up has a problem ({exc.code}); we have been alerted"
    if isinstance(exc, aws.AwsUnavailable):
        return f"AWS did not answer ({exc.code})"
    if isinstance(exc, aws.RouteConflict):
        return str(exc)
    return f"AWS refused ({exc.code}); the details are in our log"


def resync_queued(peering_pk):
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
        audit.record("peering.resync_failed", target=peering,
                     message=f"{why}; the next scheduled reconcile checks this peering again.",
                     after={"aws_error": exc.code})
        return why
    return " ".join(findings) or "matches AWS"


@dataclass
class ReconcileReport:
    checked: int = 0
    peer_deleted: int = 0
    repaired: int = 0
    requeued: int = 0
    unreachable: int = 0
    unrepaired: int = 0

    def __str__(self):
        return (f"checked {self.checked} peerings: {self.peer_deleted} deleted on the customer "
                f"side, {self.repaired} repaired, {self.requeued} stuck and re-queued, "
                f"{self.unrepaired} AWS would not let us repair, "
                f"{self.unreachable} not checked (AWS unavailable)")


def reconcile(stuck_after=None):
    """Compare every live peering with AWS (see `resync`), and re-queue any that has sat in
    a transitional state longer than `stuck_after` seconds: its task was lost, say, with a
    killed worker. Every finding is audited (as `system` when run by the schedule)."""
    if stuck_after is None:
        stuck_after = settings.RECONCILE_STUCK_AFTER
    cutoff = timezone.now() - timedelta(seconds=stuck_after)
    report = ReconcileReport()
    live = PeeringConnection.objects.exclude(
        status__in=PeeringConnection.ENDED
    ).select_related("deployment__organization")
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


def _record_unrepaired(peering, exc):
    # Once per distinct problem, not at every run of the schedule while it lasts.
    message = f"Reconcile could not repair this peering: {_why_not_resynced(exc)}."
    last = AuditEvent.objects.filter(
        target_type=type(peering).__name__, target_id=str(peering.pk)
    ).order_by("-id").values_list("action", "message").first()
    if last != ("peering.resync_failed", message):
        audit.record("peering.resync_failed", target=peering, message=message,
                     after={"aws_error": exc.code})


def _in_batches(queryset, size=500):
    """Rows in pk order, loaded a batch at a time. Not a streaming cursor: the loop writes
    and queues tasks as it goes, and a broker may recycle the connection under a cursor."""
    last = 0
    while True:
        batch = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
        if not batch:
            return
        yield from batch
        last = batch[-1].pk


def _requeue(peering):
    # Touch the row (compare-and-set on its status) so the next run does not queue it again
    # while this attempt is still on its way.
    touched = PeeringConnection.objects.filter(
        pk=peering.pk, status=peering.status, status_changed_at=peering.status_changed_at
    ).update(status_changed_at=timezone.now())
    if not touched:
        return False
    with transaction.atomic():
        audit.record("peering.requeued", target=peering,
                     after={"status": peering.status},
                     message=f"{peering.status} for too long; its task was queued again.")
        if peering.status == Status.DELETING:
            queue.enqueue_deprovision(peering)
        else:
            queue.enqueue_provision(peering)
    return True


