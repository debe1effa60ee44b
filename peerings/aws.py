"""Every boto3 call the portal makes, and nothing else.

The rest of the code sees plain data (`PeeringRequest`) and domain errors (`AwsError` and
its subclasses), never a botocore `ClientError`. Every mutating call is idempotent: AWS
offers no ClientToken for peering, route or security-group calls, so we describe first or
treat "already there" / "already gone" as done."""

import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)
from django.conf import settings

from ops.metrics import count_aws_calls
from peerings import ratebudget

log = logging.getLogger(__name__)

THROTTLING_CODES = {
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
}
SERVER_CODES = {"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"}
PEERING_NOT_FOUND_CODES = {
    "InvalidVpcPeeringConnectionID.NotFound",
    "InvalidVpcPeeringConnectionId.NotFound",  # moto's spelling
}
FINAL_PEERING_STATES = {"failed", "rejected", "expired", "deleted", "deleting"}


class AwsError(Exception):
    """Something AWS said or did not say. `str()` is safe to show a customer."""

    def __init__(self, message, code=""):
        super().__init__(message)
        self.code = code


class AwsUnavailable(AwsError):
    """AWS could not be reached, or kept throttling or failing: worth trying again later."""


class AwsMisconfigured(AwsUnavailable):
    """The portal's own AWS set-up looks wrong: no credentials, no region, a bad parameter.
    Workers retry it like an outage (an instance role's credentials can be briefly out of
    reach too) but it is logged as an error; the dialog names it instead of blaming AWS."""


class AwsRefused(AwsError):
    """AWS answered with an error that retrying the same call will not fix."""


class RouteConflict(AwsError):
    """A route for the customer's CIDR already points somewhere other than this peering.
    The message is the customer's (no internal IDs); the table is for support and our log."""

    def __init__(self, cidr, route_table_id):
        super().__init__(
            f"The deployment's network already sends {cidr} somewhere else, so traffic "
            "could not reach your VPC through this peering.",
            code="RouteConflict",
        )
        self.cidr = cidr
        self.route_table_id = route_table_id

    def for_support(self):
        return f"route table {self.route_table_id} already sends {self.cidr} somewhere else"


class PeeringNotActive(AwsError):
    """The peering connection reached a final state other than active."""

    def __init__(self, message, state):
        super().__init__(message, code=state)
        self.state = state


@dataclass(frozen=True)
class PeeringRequest:
    peering_id: str
    status: str
    status_message: str
    requester_account_id: str
    requester_vpc_id: str
    requester_region: str
    requester_cidrs: list = field(default_factory=list)
    accepter_account_id: str = ""
    accepter_vpc_id: str = ""


# The largest page DescribeVpcPeeringConnections returns, and the most values AWS takes in
# one filter (FilterLimitExceeded beyond).
PEERINGS_PAGE_SIZE = 1000
FILTER_VALUES_LIMIT = 200


def _peering_request(connection):
    requester = connection.get("RequesterVpcInfo", {})
    accepter = connection.get("AccepterVpcInfo", {})
    cidrs = [block["CidrBlock"] for block in requester.get("CidrBlockSet", [])]
    if not cidrs and requester.get("CidrBlock"):
        cidrs = [requester["CidrBlock"]]
    status = connection.get("Status", {})
    return PeeringRequest(
        peering_id=connection["VpcPeeringConnectionId"],
        status=status.get("Code", ""),
        status_message=status.get("Message", ""),
        requester_account_id=requester.get("OwnerId", ""),
        requester_vpc_id=requester.get("VpcId", ""),
        requester_region=requester.get("Region", ""),
        requester_cidrs=sorted(set(cidrs)),
        accepter_account_id=accepter.get("OwnerId", ""),
        accepter_vpc_id=accepter.get("VpcId", ""),
    )


@dataclass
class Network:
    """A deployment's side in AWS, read once (one DescribeRouteTables, one
    DescribeSecurityGroups) and compared in memory: its VPC's route tables ({table ID:
    routes}) and the single-port TCP rules of its security group ({(CIDR, port)}). The Ec2
    writes given it keep it up to date, so one read serves every peering of the deployment."""

    route_tables: dict
    ingress: set

    def lacks(self, peering_id, cidrs, ports):
        """True when a route to the pcx or a rule for a (CIDR, port) is missing."""
        for routes in self.route_tables.values():
            for cidr in cidrs:
                if not any(
                    r.get("DestinationCidrBlock") == cidr
                    and r.get("VpcPeeringConnectionId") == peering_id
                    for r in routes
                ):
                    return True
        return any((cidr, port) not in self.ingress for cidr in cidrs for port in ports)


def _config(interactive=False):
    # A person waiting on a page (the dialog's check) gets short timeouts and one retry, so
    # that a silent AWS is reported within seconds, well before the web server gives up;
    # the workers wait longer and retry more, nobody is watching them.
    if interactive:
        return Config(
            retries={"mode": "standard", "total_max_attempts": settings.AWS_CHECK_MAX_ATTEMPTS},
            connect_timeout=settings.AWS_CHECK_CONNECT_TIMEOUT,
            read_timeout=settings.AWS_CHECK_READ_TIMEOUT,
        )
    return Config(
        # total_max_attempts counts the first try; botocore's max_attempts does not.
        retries={"mode": "standard", "total_max_attempts": settings.AWS_MAX_ATTEMPTS},
        connect_timeout=settings.AWS_CONNECT_TIMEOUT,
        read_timeout=settings.AWS_READ_TIMEOUT,
    )


@lru_cache(maxsize=32)
def _home_client(service, region, interactive=False):
    # Clients are thread-safe and expensive to build; the home account's credentials come
    # from the standard chain and refresh themselves, so these are safe to keep.
    made = boto3.session.Session().client(service, region_name=region, config=_config(interactive))
    return count_aws_calls(_budgeted(made, settings.VENDOR_HOME_ACCOUNT_ID, interactive))


def client(service, region, account_id, interactive=False):
    """A client acting in `account_id`: our own credentials for the home account, an
    assumed role (VENDOR_ROLE_ARN_TEMPLATE) for any other."""
    if account_id == settings.VENDOR_HOME_ACCOUNT_ID:
        return _home_client(service, region, interactive)
    sts = _home_client("sts", region, interactive)
    role_arn = settings.VENDOR_ROLE_ARN_TEMPLATE.format(account_id=account_id)
    credentials = _call(sts.assume_role, RoleArn=role_arn, RoleSessionName="peering-portal")[
        "Credentials"
    ]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    made = session.client(service, region_name=region, config=_config(interactive))
    return count_aws_calls(_budgeted(made, account_id, interactive))


class OverBudget(BotoCoreError):
    """Our shared AWS budget (ratebudget.py) had no token for the request in time."""

    fmt = "{reason}"


def _budgeted(made, account_id, interactive):
    """Every HTTP request the client sends to EC2 (botocore's retries included: AWS charges
    each) first takes a token from the budget all our processes share; a throttled answer
    is counted and empties our copy of the bucket. The dialog's checks ask first."""
    if made.meta.service_model.service_name != "ec2":
        return made  # STS and the rest: one call per client, far inside their quotas
    region = made.meta.region_name

    def take_token(event_name, request=None, **kwargs):
        action = event_name.rsplit(".", 1)[-1]
        filtered = ratebudget.is_filtered(getattr(request, "body", None))
        if interactive:
            # A person or a program waits: the page's short wait, at the dialog's level
            # unless the caller set its own (the API's checks ask below the dialog).
            level = ratebudget.explicit_priority()
            if level is None:
                level = ratebudget.Priority.DIALOG
            max_wait = settings.AWS_CHECK_READ_TIMEOUT
        else:
            level, max_wait = ratebudget.current_priority(), settings.AWS_BUDGET_MAX_WAIT
        try:
            ratebudget.take(account_id, region, action, level, max_wait, filtered=filtered)
        except ratebudget.OverBudget as exc:
            raise OverBudget(reason=str(exc)) from exc

    def count_throttling(response, operation, **kwargs):
        if response is None:
            return  # no answer at all (a network error)
        code = response[1].get("Error", {}).get("Code", "")
        if code in THROTTLING_CODES:
            log.warning("AWS throttled %s in %s of %s", operation.name, region, account_id)
            ratebudget.throttled(account_id, region, operation.name)

    made.meta.events.register("before-send.ec2", take_token)
    made.meta.events.register("needs-retry.ec2", count_throttling)
    return made


def _call(method, **kwargs):
    try:
        return method(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise _translated(exc) from exc


# Our own set-up looks wrong: an operator must hear of it at once.
MISCONFIGURED = (NoCredentialsError, PartialCredentialsError, NoRegionError, ParamValidationError)


def _translated(exc):
    """botocore has already retried throttling and 5xx (standard mode); what still fails
    here is reported as unavailable, to be tried again later, not as a refusal."""
    if isinstance(exc, MISCONFIGURED):
        log.error("AWS set-up problem: %s: %s", type(exc).__name__, exc)
        return AwsMisconfigured(
            "The portal's own AWS set-up is incomplete (credentials, region or a parameter); "
            "our support team has to fix it.",
            code=type(exc).__name__,
        )
    if isinstance(exc, OverBudget):
        log.warning("AWS budget: %s", exc)
        return AwsUnavailable("AWS is busy right now; we will try again.", code="OverBudget")
    if isinstance(exc, BotoCoreError):
        return AwsUnavailable(
            # Not "nothing was changed": a change whose answer was lost may have been made.
            "AWS did not answer in time. Please try again.",
            code=type(exc).__name__,
        )
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in THROTTLING_CODES or code in SERVER_CODES or status >= 500:
        return AwsUnavailable("AWS is busy or failing right now; we will try again.", code=code)
    return AwsRefused(error.get("Message") or code, code=code)


class Ec2:
    """EC2 in one region of one account: the deployment's, or a simulated customer's."""

    def __init__(self, region, account_id, ec2_client=None, interactive=False):
        self.region = region
        self.account_id = account_id
        self.ec2 = ec2_client or client("ec2", region, account_id, interactive)

    # --- peering connections ---

    def describe_peering(self, peering_id):
        """The peering connection as AWS sees it, or None when it does not exist here."""
        try:
            answer = _call(
                self.ec2.describe_vpc_peering_connections,
                VpcPeeringConnectionIds=[peering_id],
            )
        except AwsRefused as exc:
            if exc.code in PEERING_NOT_FOUND_CODES:
                return None
            raise
        connections = [
            c
            for c in answer.get("VpcPeeringConnections", [])
            if c.get("VpcPeeringConnectionId") == peering_id
        ]
        return _peering_request(connections[0]) if connections else None

    def peerings_to(self, vpc_ids):
        """Every peering connection whose accepter is one of `vpc_ids` (deployments' VPCs),
        in as few pages as AWS allows: {pcx ID: PeeringRequest}. A pcx AWS no longer lists
        is simply absent. At most FILTER_VALUES_LIMIT VPCs per call."""
        wanted = set(vpc_ids)
        if len(wanted) > FILTER_VALUES_LIMIT:
            raise ValueError(f"at most {FILTER_VALUES_LIMIT} VPCs per call, not {len(wanted)}")
        pages = self.ec2.get_paginator("describe_vpc_peering_connections").paginate(
            Filters=[{"Name": "accepter-vpc-info.vpc-id", "Values": sorted(wanted)}],
            PaginationConfig={"PageSize": PEERINGS_PAGE_SIZE},
        )
        found = {}
        try:
            for page in pages:
                for connection in page.get("VpcPeeringConnections", []):
                    # moto ignores the filter (and the paging); AWS does not. Check it ourselves.
                    if connection.get("AccepterVpcInfo", {}).get("VpcId") in wanted:
                        request = _peering_request(connection)
                        found[request.peering_id] = request
        except (ClientError, BotoCoreError) as exc:
            raise _translated(exc) from exc
        return found

    def accept_peering(self, peering_id):
        try:
            _call(self.ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=peering_id)
        except AwsRefused as exc:
            # A second worker, or an earlier run of this one, already accepted it.
            if exc.code == "InvalidStateTransition":
                current = self.describe_peering(peering_id)
                if current and current.status in ("active", "provisioning"):
                    return
            raise

    def wait_until_active(self, peering_id, timeout, sleep=time.sleep):
        """Poll until the connection is active. The boto3 waiter only waits for the
        connection to exist, not for it to be usable, so we poll ourselves."""
        deadline = time.monotonic() + timeout
        delay = 0.5
        while True:
            current = self.describe_peering(peering_id)
            if current is None:
                raise PeeringNotActive("The peering connection no longer exists in AWS.", "deleted")
            if current.status == "active":
                return current
            if current.status in FINAL_PEERING_STATES:
                raise PeeringNotActive(current.status_message or current.status, current.status)
            if time.monotonic() + delay > deadline:
                raise AwsUnavailable(
                    f"AWS has not made {peering_id} active yet (still {current.status}).",
                    code="ActivationTimeout",
                )
            sleep(delay)
            delay = min(delay * 2, 5)

    def delete_peering(self, peering_id):
        try:
            _call(self.ec2.delete_vpc_peering_connection, VpcPeeringConnectionId=peering_id)
        except AwsRefused as exc:
            if exc.code in PEERING_NOT_FOUND_CODES:
                return
            if exc.code == "InvalidStateTransition":
                current = self.describe_peering(peering_id)
                if current is None or current.status in FINAL_PEERING_STATES:
                    return
            raise

    # --- routes ---

    def route_tables(self, vpc_id):
        """All route tables of the VPC: {route table ID: list of routes}."""
        tables = {}
        paginator = self.ec2.get_paginator("describe_route_tables")
        pages = paginator.paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        try:
            for page in pages:
                for table in page.get("RouteTables", []):
                    # moto may ignore the filter; AWS does not. Check it ourselves.
                    if table.get("VpcId") == vpc_id:
                        tables[table["RouteTableId"]] = table.get("Routes", [])
        except (ClientError, BotoCoreError) as exc:
            raise _translated(exc) from exc
        return tables

    def network(self, vpc_id, group_id):
        """The deployment's route tables and security group rules, as `Network`."""
        return Network(self.route_tables(vpc_id), self.ingress(group_id))

    def ensure_route(self, route_table_id, cidr, peering_id, existing_routes=()):
        """Route `cidr` to the pcx unless `existing_routes` (the table as read) already does.
        A list given is kept up to date. RouteAlreadyExists still means done: another worker
        may have added it since we read."""
        for route in existing_routes:
            if route.get("DestinationCidrBlock") == cidr:
                if route.get("VpcPeeringConnectionId") == peering_id:
                    return "exists"
                if route.get("State") == "blackhole":
                    # Left behind by a peering that no longer exists: take it over.
                    _call(
                        self.ec2.replace_route,
                        RouteTableId=route_table_id,
                        DestinationCidrBlock=cidr,
                        VpcPeeringConnectionId=peering_id,
                    )
                    route.update(VpcPeeringConnectionId=peering_id, State="active")
                    route.pop("GatewayId", None)
                    return "replaced"
                raise RouteConflict(cidr, route_table_id)
        try:
            _call(
                self.ec2.create_route,
                RouteTableId=route_table_id,
                DestinationCidrBlock=cidr,
                VpcPeeringConnectionId=peering_id,
            )
        except AwsRefused as exc:
            if exc.code == "RouteAlreadyExists":
                return "exists"
            raise
        if isinstance(existing_routes, list):
            existing_routes.append(
                {
                    "DestinationCidrBlock": cidr,
                    "VpcPeeringConnectionId": peering_id,
                    "State": "active",
                }
            )
        return "created"

    def delete_route(self, route_table_id, cidr, peering_id, existing_routes=()):
        """Delete the route only if it is ours (it targets this peering)."""
        ours = any(
            r.get("DestinationCidrBlock") == cidr and r.get("VpcPeeringConnectionId") == peering_id
            for r in existing_routes
        )
        if not ours:
            return False
        try:
            _call(self.ec2.delete_route, RouteTableId=route_table_id, DestinationCidrBlock=cidr)
        except AwsRefused as exc:
            if exc.code == "InvalidRoute.NotFound":
                return False
            raise
        if isinstance(existing_routes, list):
            existing_routes[:] = [
                r
                for r in existing_routes
                if not (
                    r.get("DestinationCidrBlock") == cidr
                    and r.get("VpcPeeringConnectionId") == peering_id
                )
            ]
        return True

    # --- security group rules ---

    def ensure_ingress(self, group_id, cidr, port, description, existing=None):
        """Admit `cidr` on `port` unless `existing` (the group's rules as read, kept up to
        date) has it. InvalidPermission.Duplicate still means done: a race, not a probe."""
        if existing is not None and (cidr, port) in existing:
            return "exists"
        try:
            _call(
                self.ec2.authorize_security_group_ingress,
                GroupId=group_id,
                IpPermissions=[_permission(cidr, port, description)],
            )
        except AwsRefused as exc:
            if exc.code == "InvalidPermission.Duplicate":
                return "exists"
            raise
        if existing is not None:
            existing.add((cidr, port))
        return "created"

    def revoke_ingress(self, group_id, cidr, port, existing=None):
        """Revoke the rule, unless `existing` (the group's rules as read) shows it gone."""
        if existing is not None and (cidr, port) not in existing:
            return False
        try:
            _call(
                self.ec2.revoke_security_group_ingress,
                GroupId=group_id,
                IpPermissions=[_permission(cidr, port)],
            )
        except AwsRefused as exc:
            if exc.code == "InvalidPermission.NotFound":
                return False
            raise
        if existing is not None:
            existing.discard((cidr, port))
        return True

    def ingress_rules(self, group_id):
        """The (cidr, port) pairs the group admits over TCP."""
        return {
            (cidr, port)
            for cidr, low, high in self._tcp_ranges(group_id)
            for port in range(low, high + 1)
        }

    def ingress(self, group_id):
        """The group's single-port TCP rules as (cidr, port): exactly the rules we add, the
        ones AWS would call a duplicate of ours. One DescribeSecurityGroups."""
        return {(cidr, low) for cidr, low, high in self._tcp_ranges(group_id) if low == high}

    def _tcp_ranges(self, group_id):
        # A filter, not GroupIds: AWS then counts the call against the ordinary read bucket,
        # twice the size of the unfiltered one (ratebudget.UNFILTERED_NON_MUTATING).
        answer = _call(
            self.ec2.describe_security_groups,
            Filters=[{"Name": "group-id", "Values": [group_id]}],
        )
        if not answer.get("SecurityGroups"):
            # What GroupIds would have answered: the group is gone, nothing to compare (an
            # empty answer would read as "every rule missing" and invite writes).
            raise AwsRefused(
                f"The security group {group_id} does not exist.", code="InvalidGroup.NotFound"
            )
        return [
            (ip_range["CidrIp"], permission["FromPort"], permission["ToPort"])
            for group in answer.get("SecurityGroups", [])
            for permission in group.get("IpPermissions", [])
            if permission.get("IpProtocol") == "tcp"
            for ip_range in permission.get("IpRanges", [])
        ]


def _permission(cidr, port, description=None):
    ip_range = {"CidrIp": cidr}
    if description:
        ip_range["Description"] = description
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [ip_range]}
