"""Reconcile, Re-sync and provisioning ask AWS only what they must: reads at the floor (per
batch of deployments one paged DescribeVpcPeeringConnections, per deployment one
DescribeRouteTables and one DescribeSecurityGroups), compared in memory, and only the writes
the drift needs. The scheduled reconcile is fanned out in batches, each its own task."""

from types import SimpleNamespace

import pytest
from botocore.stub import Stubber

from core import audit
from core.models import AuditEvent
from peerings import aws, services, tasks
from peerings.models import PeeringConnection
from peerings.services import reconciling
from tests.support.aws import (
    REGION,
    VENDOR,
    aws_calls,
    aws_network,
    customer_ec2,
    described,
    routes_to,
    rules_for,
    stub_ec2,
    vendor_ec2,
)
from tests.support.factories import confirmed, make_deployment, make_peering, provisioned

pytestmark = pytest.mark.django_db

# The floor of a reconcile of two deployments of one account and region.
FLOOR = {"DescribeVpcPeeringConnections": 1, "DescribeRouteTables": 2, "DescribeSecurityGroups": 2}


def reconcile():
    with audit.acting_as(audit.SYSTEM):
        return services.reconcile()


def two_deployments_of_two_peerings(organization):
    """[(deployment, [peering, peering])] × 2, all running, in the simulator."""
    world = []
    for number, name in enumerate(["orders", "billing"]):
        deployment = aws_network(organization, name, f"10.{20 + number}.0.0/16")
        world.append(
            (
                deployment,
                [provisioned(deployment, f"172.16.{8 + 2 * number + i}.0/24") for i in range(2)],
            )
        )
    return world


def test_a_clean_reconcile_makes_the_floors_reads_and_writes_nothing(organization, simulator):
    two_deployments_of_two_peerings(organization)
    before = AuditEvent.objects.count()
    with aws_calls() as calls:
        report = reconcile()
    assert calls == FLOOR
    assert (report.checked, report.repaired, report.peer_deleted) == (4, 0, 0)
    assert AuditEvent.objects.count() == before


def _route_gone(deployment, peering):
    ec2 = vendor_ec2()
    table_id, routes = next(iter(ec2.route_tables(deployment.vpc_id).items()))
    ec2.delete_route(table_id, peering.customer_cidrs[0], peering.peering_id, routes)


def _rule_gone(deployment, peering):
    vendor_ec2().revoke_ingress(deployment.security_group_id, peering.customer_cidrs[0], 8883)


def _deleted_by_the_customer(deployment, peering):
    customer_ec2().delete_peering(peering.peering_id)


@pytest.mark.parametrize(
    ("drift", "writes", "repaired", "peer_deleted"),
    [
        pytest.param(_route_gone, {"CreateRoute": 1}, 1, 0, id="route-gone"),
        pytest.param(_rule_gone, {"AuthorizeSecurityGroupIngress": 1}, 1, 0, id="rule-gone"),
        pytest.param(
            _deleted_by_the_customer,
            # Its two rules (one per port) and its route in each of the two tables.
            {"RevokeSecurityGroupIngress": 2, "DeleteRoute": 2},
            0,
            1,
            id="deleted-by-the-customer",
        ),
    ],
)
def test_a_drift_costs_the_floors_reads_and_exactly_the_writes_it_needs(
    organization, simulator, drift, writes, repaired, peer_deleted
):
    world = two_deployments_of_two_peerings(organization)
    deployment, (peering, untouched) = world[1]
    drift(deployment, peering)
    with aws_calls() as calls:
        report = reconcile()
    assert calls == {**FLOOR, **writes}
    assert (report.repaired, report.peer_deleted) == (repaired, peer_deleted)
    peering.refresh_from_db()
    if peer_deleted:
        assert peering.status == "peer_deleted"
        assert not any(routes_to(deployment, peering).values())
        assert rules_for(deployment, peering.customer_cidrs[0]) == []
    else:
        assert list(routes_to(deployment, peering).values()) == [peering.customer_cidrs] * 2
        assert rules_for(deployment, peering.customer_cidrs[0]) == [1883, 8883]
    assert rules_for(deployment, untouched.customer_cidrs[0]) == [1883, 8883]
    with aws_calls() as calls:
        reconcile()
    assert calls == FLOOR  # put right: the next run finds nothing to write


def test_a_resync_reads_once_and_writes_only_the_missing_rule(aws_deployment):
    peering = provisioned(aws_deployment)
    with aws_calls() as calls:
        assert services.resync(peering) == []
    clean = {"DescribeVpcPeeringConnections": 1, "DescribeRouteTables": 1}
    assert calls == {**clean, "DescribeSecurityGroups": 1}
    _rule_gone(aws_deployment, peering)
    with aws_calls() as calls:
        assert len(services.resync(peering)) == 1
    assert calls == {**clean, "DescribeSecurityGroups": 1, "AuthorizeSecurityGroupIngress": 1}


def test_provisioning_writes_each_route_and_rule_once_and_nothing_already_there(aws_deployment):
    peering = confirmed(aws_deployment)
    with aws_calls() as calls:
        assert services.provision(peering.pk) == "running"
    polls = calls.pop("DescribeVpcPeeringConnections")
    assert polls >= 2  # the check before accepting, then until active
    assert calls == {
        "AcceptVpcPeeringConnection": 1,
        "DescribeRouteTables": 1,
        "DescribeSecurityGroups": 1,
        "CreateRoute": 2,
        "AuthorizeSecurityGroupIngress": 2,
    }
    # A second run (a lost answer, a re-queued task) finds it all there: reads, no write.
    PeeringConnection.objects.filter(pk=peering.pk).update(status="provisioning")
    with aws_calls() as calls:
        assert services.provision(peering.pk) == "running"
    assert calls == {"DescribeRouteTables": 1, "DescribeSecurityGroups": 1}


def test_the_peerings_are_read_in_pages_of_a_thousand_and_only_those_to_the_vpcs_asked(
    monkeypatch, deployment
):
    ec2 = stub_ec2(monkeypatch)
    first = described(deployment, "active", pcx="pcx-0000000000000000a")
    first["NextToken"] = "page-2"
    second = described(deployment, "deleted", pcx="pcx-0000000000000000b")
    # moto answers with every peering of the account, whatever the filter: left out here.
    other_vpc = SimpleNamespace(vpc_id="vpc-0ffffffffffffffff", cidr="10.99.0.0/16")
    second["VpcPeeringConnections"] += described(other_vpc, pcx="pcx-0000000000000000f")[
        "VpcPeeringConnections"
    ]
    asked = {
        "Filters": [{"Name": "accepter-vpc-info.vpc-id", "Values": [deployment.vpc_id]}],
        "MaxResults": 1000,
    }
    with Stubber(ec2) as stubber:
        stubber.add_response("describe_vpc_peering_connections", first, asked)
        stubber.add_response(
            "describe_vpc_peering_connections", second, {**asked, "NextToken": "page-2"}
        )
        found = aws.Ec2(REGION, VENDOR).peerings_to([deployment.vpc_id])
        stubber.assert_no_pending_responses()
    assert {pcx: seen.status for pcx, seen in found.items()} == {
        "pcx-0000000000000000a": "active",
        "pcx-0000000000000000b": "deleted",
    }


def test_more_vpcs_than_one_filter_takes_are_refused_before_asking_aws(monkeypatch):
    stub_ec2(monkeypatch)
    with pytest.raises(ValueError, match="at most 200 VPCs"):
        aws.Ec2(REGION, VENDOR).peerings_to([f"vpc-{n:017x}" for n in range(201)])


def test_batches_keep_to_one_account_and_region_and_to_one_page_of_peerings(
    organization, monkeypatch
):
    monkeypatch.setattr(reconciling, "BATCH_PEERINGS", 3)
    n = iter(range(1, 100))

    def deployment_with(count, status="running", **fields):
        number = next(n)
        made = make_deployment(
            organization, name=f"d{number}", vpc_id=f"vpc-{number:017x}", **fields
        )
        for _ in range(count):
            make_peering(made, status, n=next(n))
        return made

    first, second = deployment_with(2), deployment_with(2)  # 4 > 3: two batches
    third = deployment_with(1)  # fits with the second
    europe = deployment_with(1, region="eu-west-1")
    other_account = deployment_with(1, vendor_account_id="999999999999")
    deployment_with(2, "provisioning")  # the worker's: requeued if stuck, not compared
    deployment_with(2, "deleted")
    assert list(services.reconcile_batches()) == [
        [europe.pk],
        [first.pk],
        [second.pk, third.pk],
        [other_account.pk],
    ]
    monkeypatch.setattr(reconciling, "BATCH_PEERINGS", 1000)
    monkeypatch.setattr(reconciling, "BATCH_DEPLOYMENTS", 2)
    assert list(services.reconcile_batches()) == [
        [europe.pk],
        [first.pk, second.pk],
        [third.pk],
        [other_account.pk],
    ]


@pytest.mark.parametrize("run", ["scheduled", "in-process"])
def test_one_groups_aws_failure_leaves_the_other_groups_reconciled(
    aws_deployment, monkeypatch, django_capture_on_commit_callbacks, run
):
    peering = provisioned(aws_deployment)
    _rule_gone(aws_deployment, peering)
    # Another region, where AWS is down; its batch comes first (eu-west-1 < us-east-1).
    europe = make_deployment(
        aws_deployment.organization, name="eu", region="eu-west-1", vpc_id="vpc-0e0000000000000e0"
    )
    stranded = make_peering(europe, "running", n=0xE)
    real = aws.Ec2.peerings_to

    def down_in_europe(self, vpc_ids):
        if self.region == "eu-west-1":
            raise aws.AwsUnavailable("down", code="ServiceUnavailable")
        return real(self, vpc_ids)

    monkeypatch.setattr(aws.Ec2, "peerings_to", down_in_europe)
    if run == "scheduled":
        with django_capture_on_commit_callbacks(execute=True) as queued:
            assert "2 batches" in tasks.reconcile_peerings()
        assert len(queued) == 2  # one task per batch: a killed worker loses one batch
    else:
        report = reconcile()
        assert (report.checked, report.unreachable, report.repaired) == (2, 1, 1)
    assert rules_for(aws_deployment, peering.customer_cidrs[0]) == [1883, 8883]
    assert PeeringConnection.objects.get(pk=stranded.pk).status == "running"
    event = AuditEvent.objects.get(action="peering.resynced")
    assert (event.source, event.target_id) == ("system", str(peering.pk))


def test_the_schedule_queues_no_new_batches_while_the_last_runs_are_still_waiting(
    organization, simulator, django_capture_on_commit_callbacks
):
    two_deployments_of_two_peerings(organization)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert "1 batches of deployments queued" in tasks.reconcile_peerings()
    assert len(queued) == 1
    assert services.reconcile_backlog() == 1
    # AWS is slow, the batch has not run yet: the next scheduled run adds nothing.
    with django_capture_on_commit_callbacks(execute=False) as queued_again:
        assert "1 batches of the last run still waiting, so none queued" in (
            tasks.reconcile_peerings()
        )
    assert queued_again == []
    queued[0]()  # the batch runs (the test cluster is synchronous)
    assert services.reconcile_backlog() == 0
    with django_capture_on_commit_callbacks(execute=False) as queued_later:
        assert "1 batches of deployments queued" in tasks.reconcile_peerings()
    assert len(queued_later) == 1


def test_a_batch_that_fails_still_counts_as_done(organization, monkeypatch):
    from django.core.cache import cache

    cache.set(reconciling.BACKLOG_KEY, 1)

    def fails(deployment_ids):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "reconcile_deployments", fails)
    with pytest.raises(RuntimeError):
        tasks.reconcile_deployments([1], audit.SYSTEM.as_task_context())
    assert services.reconcile_backlog() == 0


def test_a_batch_out_of_time_stops_and_leaves_the_rest_to_the_next_run(
    organization, simulator, monkeypatch
):
    two_deployments_of_two_peerings(organization)
    now = iter(range(1000))  # a clock that moves a second each time it is read
    monkeypatch.setattr(reconciling, "time", SimpleNamespace(monotonic=lambda: next(now)))
    # Started at 0, the place looked at 1 and the first peering at 2: the second, at 3, is
    # past the budget.
    monkeypatch.setattr(reconciling, "batch_seconds", lambda: 2.5)
    with aws_calls() as calls:
        report = reconcile()
    assert (report.checked, report.out_of_time) == (1, 3)
    assert "3 left for the next run (out of time)" in str(report)
    assert calls == {
        "DescribeVpcPeeringConnections": 1,
        "DescribeRouteTables": 1,
        "DescribeSecurityGroups": 1,
    }


def test_a_deployment_security_group_gone_is_reported_without_a_write(aws_deployment):
    provisioned(aws_deployment)
    vendor_ec2().ec2.delete_security_group(GroupId=aws_deployment.security_group_id)
    with aws_calls() as calls:
        report = reconcile()
    assert (report.checked, report.unrepaired) == (1, 1)
    assert [op for op in calls if not op.startswith("Describe")] == []
    event = AuditEvent.objects.get(action="peering.resync_failed")
    assert event.after == {"aws_error": "InvalidGroup.NotFound"}
