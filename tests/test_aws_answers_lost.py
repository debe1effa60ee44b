"""AWS applied the change but its answer never came back: a read timeout or a 5xx after the
request reached AWS. The next try (the product's scheduled round, or botocore resending the
very same request) meets the change already made and must take it as done: provisioning
ends running with one route per table and one rule per port, a delete ends deleted with
nothing left, never a false running. And InvalidStateTransition on DeleteVpcPeeringConnection,
which moto never answers, with Stubber: fine when AWS has it gone, a failure otherwise."""

import ast

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber
from django.utils.module_loading import import_string
from django_q.models import Schedule

from peerings import aws, services
from tests.support.aws import STUB_CIDR, described, stub_ec2, vendor_ec2
from tests.support.factories import confirmed, make_peering, provisioned

pytestmark = pytest.mark.django_db

CIDR = "172.16.8.0/24"


# --- losing one answer, after the simulator has applied the request ---


class _Body:
    """A response body as urllib3 streams it."""

    def __init__(self, data):
        self.data = data

    def stream(self, **_):
        yield self.data


def _read_timeout(request):
    raise ReadTimeoutError(endpoint_url=request.url)


def _server_error(request):
    body = (
        b"<Response><Errors><Error><Code>InternalError</Code><Message>An internal error "
        b"has occurred</Message></Error></Errors><RequestID>lost</RequestID></Response>"
    )
    return AWSResponse(request.url, 500, {"Content-Type": "text/xml"}, _Body(body))


FAULTS = [pytest.param(_read_timeout, id="read-timeout"), pytest.param(_server_error, id="5xx")]


@pytest.fixture
def lose_answer(settings):
    """lose_answer(operation, fault, attempts, whole_call): the vendor client's next
    `operation` really reaches the simulator (AWS applies it), then the client sees `fault`
    instead of the answer: for that first send only (botocore's resend gets its answer), or
    for every attempt of that call (the failure reaches the product). `attempts` is
    AWS_MAX_ATTEMPTS. Returns the HTTP status of each answer thrown away, one per fault."""

    def install(operation, fault, attempts, whole_call):
        settings.AWS_MAX_ATTEMPTS = attempts
        aws._home_client.cache_clear()  # a client built with this retry budget
        client = vendor_ec2().ec2
        assert vendor_ec2().ec2 is client  # the product's calls go through this very client
        calls, thrown_away = [], []

        def applied_then_lost(request, **_):
            if len(calls) > 1 or (thrown_away and not whole_call):
                return None  # the answer gets through
            answer = client._endpoint.http_session.send(request)
            thrown_away.append(answer.status_code)
            return fault(request)

        client.meta.events.register(
            f"before-call.ec2.{operation}", lambda **_: calls.append(operation)
        )
        client.meta.events.register(f"before-send.ec2.{operation}", applied_then_lost)
        return thrown_away

    yield install
    aws._home_client.cache_clear()  # no later test gets the client carrying the fault


def every_attempt_made():
    return vendor_ec2().ec2.meta.config.retries["total_max_attempts"]


def vendor_side(deployment, peering):
    """(pcx status in AWS, routes to the pcx per route table, ports of the CIDR's ingress
    rules), counted from the raw answers so a duplicate route or rule would show."""
    seen = vendor_ec2().describe_peering(peering.peering_id)
    routes = sorted(
        sum(1 for r in table if r.get("VpcPeeringConnectionId") == peering.peering_id)
        for table in vendor_ec2().route_tables(deployment.vpc_id).values()
    )
    groups = vendor_ec2().ec2.describe_security_groups(GroupIds=[deployment.security_group_id])
    ports = sorted(
        permission["FromPort"]
        for group in groups["SecurityGroups"]
        for permission in group["IpPermissions"]
        if permission.get("IpProtocol") == "tcp"
        for ip_range in permission.get("IpRanges", [])
        if ip_range["CidrIp"] == CIDR
    )
    return (seen.status if seen else "missing", routes, ports)


PROVISIONED = ("active", [1, 1], [1883, 8883])
DELETED = ("deleted", [0, 0], [])

# (operation, the row's status after the round whose answer was lost, what AWS has then)
PROVISIONING_STEPS = [
    pytest.param("AcceptVpcPeeringConnection", "pending", ("active", [0, 0], []), id="accept"),
    pytest.param("CreateRoute", "provisioning", ("active", [0, 1], []), id="create-route"),
    pytest.param(
        "AuthorizeSecurityGroupIngress",
        "provisioning",
        ("active", [1, 1], [1883]),
        id="authorize-ingress",
    ),
]
DELETE_STEPS = [
    pytest.param("RevokeSecurityGroupIngress", ("active", [1, 1], [8883]), id="revoke-ingress"),
    pytest.param("DeleteRoute", ("active", [0, 1], []), id="delete-route"),
    pytest.param("DeleteVpcPeeringConnection", DELETED, id="delete-pcx"),
]


def run_the_scheduled_retry(func):
    """What the django-q2 scheduler does when the one-off retry schedule comes due."""
    schedule = Schedule.objects.get(func=func)
    args = ast.literal_eval(schedule.args)
    assert args[-1] == 1  # the first round of unavailability
    return import_string(schedule.func)(*args)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(("operation", "status_after", "applied"), PROVISIONING_STEPS)
def test_a_provisioning_step_applied_but_unanswered_converges_in_the_next_round(
    aws_deployment,
    lose_answer,
    operation,
    status_after,
    applied,
    fault,
    django_capture_on_commit_callbacks,
):
    peering = confirmed(aws_deployment)
    thrown_away = lose_answer(operation, fault, attempts=1, whole_call=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.provision(peering.pk) == status_after  # never a false running
    # AWS applied the first send; that answer and those of botocore's resends were lost.
    assert thrown_away[0] == 200
    assert len(thrown_away) == every_attempt_made()
    assert vendor_side(aws_deployment, peering) == applied
    assert run_the_scheduled_retry("peerings.tasks.provision_peering") == "running"
    peering.refresh_from_db()
    assert peering.status == "running"
    assert vendor_side(aws_deployment, peering) == PROVISIONED


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(("operation", "applied"), DELETE_STEPS)
def test_a_delete_step_applied_but_unanswered_converges_in_the_next_round(
    aws_deployment,
    lose_answer,
    operation,
    applied,
    fault,
    django_capture_on_commit_callbacks,
):
    peering = provisioned(aws_deployment)
    # (its on_commit never fires in the test's transaction: the rounds are run below)
    services.request_delete(peering)
    thrown_away = lose_answer(operation, fault, attempts=1, whole_call=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.deprovision(peering.pk) == "deleting"
    assert thrown_away[0] == 200
    assert len(thrown_away) == every_attempt_made()
    assert vendor_side(aws_deployment, peering) == applied
    assert run_the_scheduled_retry("peerings.tasks.deprovision_peering") == "deleted"
    peering.refresh_from_db()
    assert peering.status == "deleted"
    assert vendor_side(aws_deployment, peering) == DELETED


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(
    "operation", [pytest.param(p.values[0], id=p.id) for p in PROVISIONING_STEPS]
)
def test_botocore_resending_an_applied_provisioning_step_is_taken_as_done(
    aws_deployment,
    lose_answer,
    operation,
    fault,
):
    peering = confirmed(aws_deployment)
    thrown_away = lose_answer(operation, fault, attempts=3, whole_call=False)
    # botocore resends the same request; AWS answers "already accepted / already exists".
    assert services.provision(peering.pk) == "running"
    assert thrown_away == [200]
    assert vendor_side(aws_deployment, peering) == PROVISIONED


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("operation", [pytest.param(p.values[0], id=p.id) for p in DELETE_STEPS])
def test_botocore_resending_an_applied_delete_step_is_taken_as_done(
    aws_deployment,
    lose_answer,
    operation,
    fault,
):
    peering = provisioned(aws_deployment)
    services.request_delete(peering)
    thrown_away = lose_answer(operation, fault, attempts=3, whole_call=False)
    # botocore resends the same request; AWS answers "no such rule / route".
    assert services.deprovision(peering.pk) == "deleted"
    assert thrown_away == [200]
    assert vendor_side(aws_deployment, peering) == DELETED


# --- InvalidStateTransition on DeleteVpcPeeringConnection (moto never answers it) ---

PCX = "pcx-0000000000000000d"  # deleting_row's
TABLE = "rtb-0000000000000000a"


@pytest.fixture
def stubbed(monkeypatch, settings):
    settings.AWS_MAX_ATTEMPTS = 1
    with Stubber(stub_ec2(monkeypatch)) as stubber:
        yield stubber


def deleting_row(deployment):
    row = make_peering(deployment, "pending", n=0xD, cidr=STUB_CIDR)
    row.move("running", allowed_from=["pending"])
    services.request_delete(row)
    return row


def expect_vendor_side_removed(stubber, deployment, routes_left):
    """The calls of remove_vendor_side: read the tables and the group, then revoke each
    port and delete our route only where AWS still has them (on the second pass, nothing)."""
    route = {"DestinationCidrBlock": STUB_CIDR, "VpcPeeringConnectionId": PCX, "State": "active"}
    stubber.add_response(
        "describe_route_tables",
        {
            "RouteTables": [
                {
                    "RouteTableId": TABLE,
                    "VpcId": deployment.vpc_id,
                    "Routes": [route] if routes_left else [],
                },
            ]
        },
    )
    rules = [
        {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "IpRanges": [{"CidrIp": STUB_CIDR}],
        }
        for port in deployment.service_ports
    ]
    stubber.add_response(
        "describe_security_groups",
        {
            "SecurityGroups": [
                {
                    "GroupId": deployment.security_group_id,
                    "IpPermissions": rules if routes_left else [],
                }
            ]
        },
    )
    if not routes_left:
        return
    for port in deployment.service_ports:
        stubber.add_response(
            "revoke_security_group_ingress",
            {"Return": True},
            {
                "GroupId": deployment.security_group_id,
                "IpPermissions": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": port,
                        "ToPort": port,
                        "IpRanges": [{"CidrIp": STUB_CIDR}],
                    }
                ],
            },
        )
    stubber.add_response(
        "delete_route", {}, {"RouteTableId": TABLE, "DestinationCidrBlock": STUB_CIDR}
    )


def expect_delete_refused_then_described(stubber, deployment, answer):
    stubber.add_client_error(
        "delete_vpc_peering_connection",
        service_error_code="InvalidStateTransition",
        expected_params={"VpcPeeringConnectionId": PCX},
    )
    if answer == "not-found":
        stubber.add_client_error(
            "describe_vpc_peering_connections",
            service_error_code="InvalidVpcPeeringConnectionID.NotFound",
            expected_params={"VpcPeeringConnectionIds": [PCX]},
        )
    else:
        stubber.add_response(
            "describe_vpc_peering_connections",
            described(deployment, answer, pcx=PCX, customer_vpc="vpc-0000000000000000d"),
            {"VpcPeeringConnectionIds": [PCX]},
        )


@pytest.mark.parametrize("aws_says", ["deleted", "deleting", "not-found"])
def test_invalid_state_transition_on_delete_is_done_when_aws_has_the_pcx_gone(
    stubbed, deployment, aws_says
):
    row = deleting_row(deployment)
    expect_vendor_side_removed(stubbed, deployment, routes_left=True)
    expect_delete_refused_then_described(stubbed, deployment, aws_says)
    expect_vendor_side_removed(stubbed, deployment, routes_left=False)
    assert services.deprovision(row.pk) == "deleted"
    stubbed.assert_no_pending_responses()
    row.refresh_from_db()
    assert row.status == "deleted"


@pytest.mark.parametrize("aws_says", ["active", "provisioning"])
def test_invalid_state_transition_on_delete_of_a_live_pcx_fails_and_is_not_marked_deleted(
    stubbed, deployment, aws_says
):
    row = deleting_row(deployment)
    expect_vendor_side_removed(stubbed, deployment, routes_left=True)
    expect_delete_refused_then_described(stubbed, deployment, aws_says)
    assert services.deprovision(row.pk) == "failed"
    stubbed.assert_no_pending_responses()  # and nothing called after the refusal
    row.refresh_from_db()
    assert row.status == "failed"
    assert "InvalidStateTransition" in row.status_reason
    assert "press Delete again" in row.status_reason
    assert services.delete_refusal(row) is None  # the customer can delete it again
