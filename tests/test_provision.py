"""The worker: accept, wait for active, route, authorise, run. Idempotent from any point."""

import logging

import pytest
from botocore.stub import ANY, Stubber
from django_q.models import Schedule

from core import audit
from core.models import AuditEvent
from peerings import aws, services
from peerings.models import PeeringConnection
from tests.support.aws import (
    STUB_CIDR,
    customer_ec2,
    described,
    no_rules,
    routes_to,
    rules_for,
    stub_ec2,
    vendor_ec2,
)
from tests.support.factories import confirmed, make_peering, verified_request

pytestmark = pytest.mark.django_db


def assert_fully_provisioned(deployment, peering):
    peering.refresh_from_db()
    assert peering.status == "running"
    assert vendor_ec2().describe_peering(peering.peering_id).status == "active"
    tables = routes_to(deployment, peering)
    assert len(tables) == 2
    assert all(destinations == ["172.16.8.0/24"] for destinations in tables.values())
    assert rules_for(deployment, "172.16.8.0/24") == [1883, 8883]


def test_it_accepts_routes_authorises_and_runs(aws_deployment):
    peering = confirmed(aws_deployment)
    assert services.provision(peering.pk) == "running"
    assert_fully_provisioned(aws_deployment, peering)


def test_confirming_in_the_web_queues_the_task_on_commit(
    aws_deployment, owner, django_capture_on_commit_callbacks
):
    verified = verified_request(aws_deployment)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        peering = services.create_peering(aws_deployment, verified=verified, user=owner)
    assert peering.status == "pending"
    assert len(callbacks) == 1
    callbacks[0]()  # the commit happens: django-q2 (inline in tests) runs the task
    assert_fully_provisioned(aws_deployment, peering)


def test_each_transition_is_audited_with_the_actor_who_asked(
    aws_deployment, owner, django_capture_on_commit_callbacks
):
    verified = verified_request(aws_deployment)
    actor = audit.actor_for_user(owner, "web", "198.51.100.7", "req-123")
    with audit.acting_as(actor), django_capture_on_commit_callbacks(execute=True):
        peering = services.create_peering(aws_deployment, verified=verified, user=owner)
    events = AuditEvent.objects.filter(target_id=str(peering.pk)).order_by("id")
    assert [e.action for e in events] == [
        "peering.created",
        "peering.provisioning",
        "peering.running",
    ]
    assert [e.source for e in events] == ["web", "task", "task"]
    assert {e.actor_id for e in events} == {owner.pk}
    assert {e.request_id for e in events} == {"req-123"}
    assert events[2].before["status"] == "provisioning"
    assert events[2].after["status"] == "running"


def test_running_it_twice_adds_nothing_twice(aws_deployment):
    peering = confirmed(aws_deployment)
    services.provision(peering.pk)
    PeeringConnection.objects.filter(pk=peering.pk).update(status="provisioning")
    assert services.provision(peering.pk) == "running"
    assert_fully_provisioned(aws_deployment, peering)


def test_it_converges_when_killed_after_accepting(aws_deployment):
    peering = confirmed(aws_deployment)
    vendor_ec2().accept_peering(peering.peering_id)  # the first run died right here
    assert services.provision(peering.pk) == "running"
    assert_fully_provisioned(aws_deployment, peering)


def test_it_converges_when_killed_after_some_routes(aws_deployment):
    peering = confirmed(aws_deployment)
    ec2 = vendor_ec2()
    ec2.accept_peering(peering.peering_id)
    peering.move("provisioning", allowed_from=["pending"])
    first_table, routes = next(iter(ec2.route_tables(aws_deployment.vpc_id).items()))
    ec2.ensure_route(first_table, "172.16.8.0/24", peering.peering_id, routes)
    ec2.ensure_ingress(aws_deployment.security_group_id, "172.16.8.0/24", 1883, "half done")
    assert services.provision(peering.pk) == "running"
    assert_fully_provisioned(aws_deployment, peering)


def test_it_converges_when_killed_before_marking_running(aws_deployment):
    peering = confirmed(aws_deployment)
    services.provision(peering.pk)
    PeeringConnection.objects.filter(pk=peering.pk).update(status="provisioning")
    assert services.provision(peering.pk) == "running"
    assert_fully_provisioned(aws_deployment, peering)


def test_a_second_worker_on_a_finished_row_does_nothing(aws_deployment):
    peering = confirmed(aws_deployment)
    services.provision(peering.pk)
    count = AuditEvent.objects.count()
    assert services.provision(peering.pk) == "running"
    assert AuditEvent.objects.count() == count


def test_it_fails_with_a_reason_when_the_request_vanished_since_confirm(aws_deployment):
    peering = confirmed(aws_deployment)
    customer_ec2().delete_peering(peering.peering_id)
    assert services.provision(peering.pk) == "failed"
    peering.refresh_from_db()
    assert "has been deleted in AWS" in peering.status_reason
    assert not peering.retryable
    assert routes_to(aws_deployment, peering) == {t: [] for t in routes_to(aws_deployment, peering)}


# --- failures moto cannot produce, with botocore's Stubber ---


@pytest.fixture
def stubbed(monkeypatch, settings, deployment):
    settings.AWS_MAX_ATTEMPTS = 1
    settings.PEERING_ACTIVE_TIMEOUT = 5
    stubber = Stubber(stub_ec2(monkeypatch))
    monkeypatch.setattr(aws.time, "sleep", lambda seconds: None)
    with stubber:
        yield stubber


def stub_row(deployment):
    """The pending row of the request that Stubber-played AWS describes."""
    return make_peering(deployment, "pending", n=0xC, cidr=STUB_CIDR)


@pytest.mark.parametrize("final", ["failed", "rejected", "expired", "deleted"])
def test_it_fails_for_good_when_aws_ends_the_accepted_peering(stubbed, deployment, final):
    from django_q.models import Schedule

    row = stub_row(deployment)
    stubbed.add_response(
        "describe_vpc_peering_connections", described(deployment, "pending-acceptance")
    )
    stubbed.add_response("accept_vpc_peering_connection", {})
    stubbed.add_response("describe_vpc_peering_connections", described(deployment, final))
    assert services.provision(row.pk) == "failed"
    row.refresh_from_db()
    assert f"AWS reports the peering connection as {final}" in row.status_reason
    assert not row.retryable
    assert not Schedule.objects.filter(func="peerings.tasks.provision_peering").exists()


def test_a_lost_accept_race_is_fine_when_aws_says_active(stubbed, deployment):
    row = stub_row(deployment)
    stubbed.add_response(
        "describe_vpc_peering_connections", described(deployment, "pending-acceptance")
    )
    stubbed.add_client_error(
        "accept_vpc_peering_connection", service_error_code="InvalidStateTransition"
    )
    stubbed.add_response("describe_vpc_peering_connections", described(deployment, "active"))
    stubbed.add_response("describe_vpc_peering_connections", described(deployment, "active"))
    stubbed.add_response(
        "describe_route_tables",
        {
            "RouteTables": [
                {"RouteTableId": "rtb-0000000000000000a", "VpcId": deployment.vpc_id, "Routes": []}
            ]
        },
    )
    stubbed.add_response("describe_security_groups", no_rules(deployment))
    # Read as missing, then there: another worker won the race to add them. Done all the same.
    stubbed.add_client_error("create_route", service_error_code="RouteAlreadyExists")
    for _port in deployment.service_ports:
        stubbed.add_client_error(
            "authorize_security_group_ingress", service_error_code="InvalidPermission.Duplicate"
        )
    assert services.provision(row.pk) == "running"


def test_a_refusal_fails_with_a_customer_reason_and_logs_the_detail(stubbed, deployment, caplog):
    row = stub_row(deployment)
    row.move("provisioning", allowed_from=["pending"])
    stubbed.add_response(
        "describe_route_tables",
        {
            "RouteTables": [
                {"RouteTableId": "rtb-0000000000000000a", "VpcId": deployment.vpc_id, "Routes": []}
            ]
        },
    )
    stubbed.add_response("describe_security_groups", no_rules(deployment))
    stubbed.add_client_error(
        "create_route",
        service_error_code="UnauthorizedOperation",
        service_message="secret internal detail 42",
    )
    with caplog.at_level(logging.ERROR, logger="peerings.services"):
        assert services.provision(row.pk) == "failed"
    row.refresh_from_db()
    # In the customer's words: no AWS code (support reads it in the log), and no Retry
    # until support has fixed what only the vendor can.
    assert "UnauthorizedOperation" not in row.status_reason
    assert "secret internal detail" not in row.status_reason
    assert "ask support" in row.status_reason
    assert not row.retryable
    assert "secret internal detail 42" in caplog.text and "UnauthorizedOperation" in caplog.text


def test_throttling_is_retried_later_not_a_failure(
    stubbed, deployment, django_capture_on_commit_callbacks
):
    row = stub_row(deployment)
    stubbed.add_client_error(
        "describe_vpc_peering_connections",
        service_error_code="RequestLimitExceeded",
        http_status_code=400,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.provision(row.pk) == "pending"
    schedule = Schedule.objects.get(func="peerings.tasks.provision_peering")
    assert schedule.func == "peerings.tasks.provision_peering"
    assert schedule.schedule_type == Schedule.ONCE
    assert f"({row.pk}, " in schedule.args


def test_it_gives_up_after_bounded_rounds_of_unavailability(stubbed, deployment):
    row = stub_row(deployment)
    stubbed.add_client_error(
        "describe_vpc_peering_connections",
        service_error_code="ServiceUnavailable",
        http_status_code=503,
    )
    last = services.MAX_UNAVAILABLE_ROUNDS - 1
    assert services.provision(row.pk, unavailable_rounds=last) == "failed"
    row.refresh_from_db()
    assert row.retryable and "press Retry" in row.status_reason


def test_ensure_route_refuses_to_steal_a_live_route(stubbed, deployment):
    routes = [
        {
            "DestinationCidrBlock": "172.16.0.0/24",
            "VpcPeeringConnectionId": "pcx-1a2b3c4d",
            "State": "active",
        }
    ]
    with pytest.raises(aws.RouteConflict):
        vendor_ec2().ensure_route(
            "rtb-0000000000000000a", "172.16.0.0/24", "pcx-0000000000000000c", routes
        )


def test_wait_until_active_gives_up_in_bounded_time(stubbed, deployment):
    for _ in range(12):
        stubbed.add_response(
            "describe_vpc_peering_connections",
            described(deployment, "provisioning"),
            {"VpcPeeringConnectionIds": ANY},
        )
    with pytest.raises(aws.AwsUnavailable):
        vendor_ec2().wait_until_active("pcx-0000000000000000c", timeout=3, sleep=lambda s: None)


def test_it_takes_over_a_blackhole_route_left_by_a_peering_that_is_gone(stubbed, deployment):
    routes = [
        {
            "DestinationCidrBlock": "172.16.0.0/24",
            "VpcPeeringConnectionId": "pcx-1a2b3c4d",
            "State": "blackhole",
        }
    ]
    stubbed.add_response(
        "replace_route",
        {},
        {
            "RouteTableId": "rtb-0000000000000000a",
            "DestinationCidrBlock": "172.16.0.0/24",
            "VpcPeeringConnectionId": "pcx-0000000000000000c",
        },
    )
    outcome = vendor_ec2().ensure_route(
        "rtb-0000000000000000a", "172.16.0.0/24", "pcx-0000000000000000c", routes
    )
    assert outcome == "replaced"
    stubbed.assert_no_pending_responses()


def test_the_suite_refuses_aws_calls_inside_a_transaction(aws_deployment):
    from django.db import transaction

    with pytest.raises(AssertionError, match="inside a database transaction"), transaction.atomic():
        vendor_ec2().describe_peering("pcx-0123456789abcdef0")
    assert vendor_ec2().describe_peering("pcx-0123456789abcdef0") is None


def test_a_full_security_group_is_named_as_a_quota_the_customer_did_not_cause(aws_deployment):
    # moto enforces AWS's default of 60 inbound rules per group: fill it up.
    ec2 = vendor_ec2()
    for n in range(60):
        ec2.ensure_ingress(aws_deployment.security_group_id, f"192.168.{n}.0/24", 443, "x")
    peering = confirmed(aws_deployment)
    assert services.provision(peering.pk) == "failed"
    peering.refresh_from_db()
    assert "security group has reached AWS's limit of rules" in peering.status_reason
    assert "RulesPerSecurityGroupLimitExceeded" not in peering.status_reason
    # A Retry would meet the same limit: it is offered once support has raised it.
    assert not peering.retryable and "Ask our support team" in peering.status_reason
