"""The checks a new peering passes before anything is saved: first what the database alone
can refuse, then the customer's request as AWS reports it, then room on the deployment.
Every mismatch is its own message on the form field to fix.

`check_new_peering` is the only maker of a `VerifiedRequest`, and `create_peering` records
nothing else: a pending peering never comes from values nobody checked against AWS."""

import ipaddress
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import BaseForm

from core.reasons import Reason
from peerings import aws
from peerings.models import Deployment, PeeringConnection

# Messages by form field; None holds those about the whole request. A Reason (a code of
# core/reasons.py) where the message may be stored; text in the reader's language where it
# is only said there and then.
Errors = dict[str | None, list[Reason | str]]


class Refused(Exception):
    """What the customer asked for cannot be done as asked. `errors` maps each form field
    (or None for the whole form) to the messages that explain why."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(" ".join(str(m) for msgs in errors.values() for m in msgs))
        self.errors = errors

    def add_to(self, form: BaseForm) -> None:
        for field_name, messages in self.errors.items():
            for message in messages:
                if isinstance(message, Reason):
                    # Its code too: a client of the API tells the refusals apart by it.
                    form.add_error(field_name, ValidationError(message.text, code=message.code))
                else:
                    form.add_error(field_name, message)

    def reason(self) -> Reason:
        """The refusal as one reason to store: the first, followed by the others."""
        found = [m for msgs in self.errors.values() for m in msgs if isinstance(m, Reason)]
        return found[0].following(found[1:])


def live_peerings(
    deployment: Deployment, *, exclude_pk: int | None = None
) -> QuerySet[PeeringConnection]:
    rows = deployment.peerings.exclude(status__in=PeeringConnection.ENDED)
    return rows.exclude(pk=exclude_pk) if exclude_pk else rows


def database_problems(deployment: Deployment, *, peering_id: str, vpc_id: str) -> Errors:
    """What the database alone can refuse, before anyone asks AWS. A peering ID in use in
    another organization is not named here: saying so would confirm it to an outsider. AWS
    then finds it addressed elsewhere (not_for_this_deployment), and should it not, the
    unique constraint on live peering IDs still refuses the duplicate."""
    errors: Errors = {}
    taken = PeeringConnection.objects.exclude(status__in=PeeringConnection.ENDED).filter(
        deployment__organization_id=deployment.organization_id
    )
    if peering_id and taken.filter(peering_id=peering_id).exists():
        errors["peering_id"] = [Reason("peering_id_in_use", {"peering_id": peering_id})]
    if vpc_id:
        existing = live_peerings(deployment).filter(customer_vpc_id=vpc_id).first()
        if existing:
            errors["vpc_id"] = [
                Reason(
                    "vpc_already_peered",
                    {
                        "vpc_id": vpc_id,
                        "other_peering_id": existing.peering_id,
                        "other_status": existing.status,
                    },
                )
            ]
    return errors


def request_problems(
    deployment: Deployment,
    *,
    in_aws: aws.PeeringRequest | None,
    peering_id: str,
    account_id: str,
    vpc_id: str,
    exclude_pk: int | None = None,
    accepted_ok: bool = False,
) -> Errors:
    """Every way the AWS request (`in_aws`, None when AWS has no such request) can disagree
    with the deployment or with what the customer typed, each as its own message on the
    field to fix. Pure: no AWS calls."""
    if in_aws is None or not _addressed_to(deployment, in_aws):
        # First, and alone: a request addressed elsewhere is someone else's business, so it
        # reads exactly as one that does not exist, naming none of its values.
        return not_for_this_deployment(deployment, peering_id)
    errors: Errors = {}

    def add(field_name: str, message: Reason) -> None:
        errors.setdefault(field_name, []).append(message)

    region = deployment.region
    acceptable = {"pending-acceptance"} | ({"active", "provisioning"} if accepted_ok else set())
    if in_aws.status not in acceptable:
        add("peering_id", _status_message(in_aws))
    if in_aws.requester_region and in_aws.requester_region != region:
        add(
            "peering_id",
            Reason("wrong_region", {"requester_region": in_aws.requester_region, "region": region}),
        )
    if in_aws.requester_account_id != account_id:
        add(
            "account_id",
            Reason(
                "wrong_account",
                {"requester_account_id": in_aws.requester_account_id, "account_id": account_id},
            ),
        )
    if in_aws.requester_vpc_id != vpc_id:
        add(
            "vpc_id",
            Reason("wrong_vpc", {"requester_vpc_id": in_aws.requester_vpc_id, "vpc_id": vpc_id}),
        )
    for message in cidr_problems(deployment, cidrs=in_aws.requester_cidrs, exclude_pk=exclude_pk):
        add("vpc_id", message)
    return errors


def _addressed_to(deployment: Deployment, in_aws: aws.PeeringRequest) -> bool:
    """The request asks to peer with this deployment's VPC, in its vendor account."""
    return in_aws.accepter_vpc_id == deployment.vpc_id and (
        not in_aws.accepter_account_id or in_aws.accepter_account_id == deployment.vendor_account_id
    )


def not_for_this_deployment(deployment: Deployment, peering_id: str) -> Errors:
    """The one answer for a request that does not exist and for one addressed elsewhere
    (another VPC, another account, another organization's deployment): only this
    deployment's own values, which the dialog shows anyway."""
    return {
        "peering_id": [
            Reason(
                "request_not_found",
                {
                    "peering_id": peering_id,
                    "region": deployment.region,
                    "account_id": deployment.vendor_account_id,
                },
            )
        ]
    }


def capacity_problems(
    deployment: Deployment, *, cidrs: list[str], exclude_pk: int | None = None
) -> list[Reason]:
    """Whether the deployment's security group and route tables have room for these CIDRs
    beside those of its live peerings: one ingress rule per CIDR and service port, one
    route per CIDR in each table (beside the table's own local route). Counted from our
    records, so AWS may still refuse for rules or routes added outside the portal; the
    provisioning failure then names the quota."""
    in_use = sum(len(p.customer_cidrs) for p in live_peerings(deployment, exclude_pk=exclude_pk))
    wanted = in_use + len(cidrs)
    ports = deployment.service_ports
    rules_limit = settings.AWS_RULES_PER_SECURITY_GROUP
    routes_limit = settings.AWS_ROUTES_PER_ROUTE_TABLE - 1
    problems = []
    if wanted * len(ports) > rules_limit:
        problems.append(
            Reason(
                "no_room_rules",
                {
                    "rules": wanted * len(ports),
                    "cidrs": wanted,
                    "ports": len(ports),
                    "limit": rules_limit,
                },
            )
        )
    elif wanted > routes_limit:
        problems.append(Reason("no_room_routes", {"routes": wanted, "limit": routes_limit}))
    if problems:
        problems.append(Reason("no_room_advice"))
    return problems


def _status_message(in_aws: aws.PeeringRequest) -> Reason:
    state = in_aws.status
    params = {"peering_id": in_aws.peering_id}
    if state in ("active", "provisioning"):
        return Reason("request_already_accepted", {**params, "state": state})
    if state == "expired":
        return Reason("request_expired", params)
    if state == "rejected":
        return Reason("request_rejected", params)
    if state in ("deleted", "deleting"):
        return Reason("request_deleted", params)
    if state == "failed":
        if in_aws.status_message:
            return Reason(
                "request_failed_in_aws_saying", {**params, "aws_message": in_aws.status_message}
            )
        return Reason("request_failed_in_aws", params)
    if not state:
        return Reason("request_state_unknown", params)
    return Reason("request_not_waiting", {**params, "state": state})


def cidr_problems(
    deployment: Deployment, *, cidrs: list[str], exclude_pk: int | None = None
) -> list[Reason]:
    problems = []
    if not cidrs:
        return [Reason("no_cidr")]
    others = [
        (ipaddress.IPv4Network(c), p.peering_id)
        for p in live_peerings(deployment, exclude_pk=exclude_pk)
        for c in p.customer_cidrs
    ]
    for text in cidrs:
        network = ipaddress.IPv4Network(text)
        for reserved in settings.RESERVED_CIDRS:
            if network.overlaps(reserved):
                problems.append(
                    Reason(
                        "cidr_reserved",
                        {
                            "cidr": str(network),
                            "reserved": str(reserved),
                            "reserved_all": ", ".join(str(r) for r in settings.RESERVED_CIDRS),
                        },
                    )
                )
        if network.overlaps(deployment.network):
            problems.append(
                Reason("cidr_overlap", {"cidr": str(network), "deployment_cidr": deployment.cidr})
            )
        for other, other_id in others:
            if network.overlaps(other):
                problems.append(
                    Reason(
                        "cidr_overlaps_peering",
                        {
                            "cidr": str(network),
                            "other_cidr": str(other),
                            "other_peering_id": other_id,
                        },
                    )
                )
    return problems


class UnverifiedRequest(TypeError):
    """A peering was to be created from values that `check_new_peering` did not verify:
    a mistake in the calling code, never something a customer did."""


# Held only by this module: a VerifiedRequest made anywhere else lacks it.
_VERIFIED = object()


@dataclass(frozen=True)
class VerifiedRequest:
    """A customer's peering request as AWS reported it, having passed every check for one
    deployment. The customer's account and VPC are AWS's, which the checks found equal to
    what was typed; the CIDRs are learned from AWS."""

    deployment_pk: int
    in_aws: aws.PeeringRequest
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._seal is not _VERIFIED:
            raise UnverifiedRequest("Only check_new_peering() makes a VerifiedRequest.")

    @property
    def peering_id(self) -> str:
        return self.in_aws.peering_id

    @property
    def account_id(self) -> str:
        return self.in_aws.requester_account_id

    @property
    def vpc_id(self) -> str:
        return self.in_aws.requester_vpc_id

    @property
    def cidrs(self) -> list[str]:
        return list(self.in_aws.requester_cidrs)


def route_problems(
    tables: dict[str, list[dict]], *, cidrs: list[str], peering_id: str
) -> list[Reason]:
    """A route for one of the customer's CIDRs that already points elsewhere in one of the
    deployment's route tables. A blackhole (left by an ended peering) is no conflict: the
    worker takes it over, as it does a route already pointing at this peering."""
    problems = []
    for cidr in cidrs:
        taken = any(
            route.get("DestinationCidrBlock") == cidr
            and route.get("VpcPeeringConnectionId") != peering_id
            and route.get("State") != "blackhole"
            for routes in tables.values()
            for route in routes
        )
        if taken:
            problems.append(Reason("cidr_routed_elsewhere", {"cidr": cidr}))
    return problems


def check_new_peering(
    deployment: Deployment, *, peering_id: str, account_id: str, vpc_id: str
) -> VerifiedRequest:
    """All the checks a new peering must pass before anything is saved. Returns the request
    as AWS reported it, verified for `deployment`; raises Refused, or aws.AwsUnavailable
    when AWS did not answer in time."""
    errors = database_problems(deployment, peering_id=peering_id, vpc_id=vpc_id)
    if errors:
        raise Refused(errors)
    ec2 = aws.Ec2(deployment.region, deployment.vendor_account_id, interactive=True)
    in_aws = ec2.describe_peering(peering_id)
    errors = request_problems(
        deployment, in_aws=in_aws, peering_id=peering_id, account_id=account_id, vpc_id=vpc_id
    )
    if not errors:
        # Only here, before anything is saved: a peering already confirmed is never failed
        # for room (two racing for the last slot, or a Retry after support raised the AWS
        # quota but not our setting); AWS itself still refuses what does not fit.
        room = capacity_problems(deployment, cidrs=in_aws.requester_cidrs)
        if room:
            errors[None] = [*room]
    if not errors:
        # What the worker would fail on and AWS already shows: a deployment route table
        # that sends the customer's range elsewhere. One read, and only for a request
        # that passed everything else.
        tables = ec2.route_tables(deployment.vpc_id)
        conflicts = route_problems(tables, cidrs=in_aws.requester_cidrs, peering_id=peering_id)
        if conflicts:
            errors["vpc_id"] = [*conflicts]
    if errors:
        raise Refused(errors)
    return VerifiedRequest(deployment_pk=deployment.pk, in_aws=in_aws, _seal=_VERIFIED)
