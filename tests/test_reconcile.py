"""Reconcile: the database and AWS never silently disagree. Each finding is produced from a
state made in the simulator (or by Stubber where moto cannot make it)."""

import re
from datetime import timedelta

import pytest
from botocore.stub import Stubber
from django.core.management import call_command
from django.utils import timezone

from core import audit, reasons
from core.models import AuditEvent
from peerings import aws, services
from peerings.models import PeeringConnection, Resource
from tests.support.audit import event_text
from tests.support.aws import (
    customer_ec2,
    described,
    no_rules,
    nothing_left_for,
    routes_to,
    rules_for,
    stub_ec2,
    vendor_ec2,
)
from tests.support.factories import confirmed, make_peering, make_resource, provisioned

pytestmark = pytest.mark.django_db


def reconcile(**kwargs):
    with audit.acting_as(audit.SYSTEM):
        return services.reconcile(**kwargs)


def test_a_connection_the_customer_deleted_becomes_peer_deleted(aws_deployment):
    peering = provisioned(aws_deployment)
    resource = make_resource(peering, "db")
    customer_ec2().delete_peering(peering.peering_id)
    report = reconcile()
    assert (report.checked, report.peer_deleted, report.repaired) == (1, 1, 0)
    peering.refresh_from_db()
    assert peering.status == "peer_deleted"
    assert "deleted, rejected or expired on your side" in peering.status_reason
    assert nothing_left_for(aws_deployment, peering)
    assert Resource.objects.filter(pk=resource.pk).exists()  # kept, and flagged in the UI
    event = AuditEvent.objects.get(action="peering.peer_deleted")
    assert (event.source, event.actor_id, event.actor_name) == ("system", None, "system")


def test_the_deployment_page_flags_resources_of_a_peer_deleted_peering(
    aws_deployment, client, owner
):
    peering = provisioned(aws_deployment)
    make_resource(peering, "db")
    customer_ec2().delete_peering(peering.peering_id)
    reconcile()
    client.force_login(owner)
    page = client.get(f"/deployments/{aws_deployment.pk}/").content.decode()
    resource_row = re.search(r'<tr id="resource-\d+" class="unreachable">(.*?)</tr>', page, re.S)
    assert resource_row, "the resource is flagged"
    assert "deleted in AWS" in resource_row.group(1) and "unreachable" in resource_row.group(1)


def test_a_missing_vendor_route_and_rule_are_put_back(aws_deployment):
    peering = provisioned(aws_deployment)
    ec2 = vendor_ec2()
    table_id, routes = next(iter(ec2.route_tables(aws_deployment.vpc_id).items()))
    ec2.delete_route(table_id, "172.16.8.0/24", peering.peering_id, routes)
    ec2.revoke_ingress(aws_deployment.security_group_id, "172.16.8.0/24", 8883)
    report = reconcile()
    assert (report.repaired, report.peer_deleted) == (1, 0)
    assert list(routes_to(aws_deployment, peering).values()) == [["172.16.8.0/24"]] * 2
    assert rules_for(aws_deployment, "172.16.8.0/24") == [1883, 8883]
    findings = AuditEvent.objects.get(action="peering.resynced").after["findings"]
    assert {f["code"] for f in findings} == {"finding_route_added", "finding_ingress_added"}
    said = [reasons.render(f["code"], f["params"]) for f in findings]
    assert any(table_id in f for f in said)
    assert any("port 8883" in f for f in said)


def test_a_route_aws_will_not_let_us_repair_is_reported_once_with_what_was_repaired(aws_deployment):
    peering = provisioned(aws_deployment)
    cidr = "172.16.8.0/24"
    ec2 = vendor_ec2()
    (first, first_routes), (second, second_routes) = ec2.route_tables(aws_deployment.vpc_id).items()
    ec2.delete_route(first, cidr, peering.peering_id, first_routes)
    ec2.delete_route(second, cidr, peering.peering_id, second_routes)
    # Someone sends the customer's CIDR elsewhere in the second table.
    gateway = ec2.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=aws_deployment.vpc_id)
    ec2.ec2.create_route(RouteTableId=second, DestinationCidrBlock=cidr, GatewayId=gateway)

    report = reconcile()

    assert (report.unrepaired, report.unreachable, report.repaired) == (1, 0, 0)
    assert routes_to(aws_deployment, peering) == {first: [cidr], second: []}  # first put back
    failed = AuditEvent.objects.get(action="peering.resync_failed")
    assert failed.message_code == "reconcile_unrepaired"
    assert second in failed.message_text and "somewhere else" in failed.message_text
    assert (failed.source, failed.after) == ("system", {"aws_error": "RouteConflict"})
    partial = AuditEvent.objects.get(action="peering.resynced")
    assert partial.after["stopped_by"] == "RouteConflict"
    assert [f for f in partial.after["findings"] if f["params"].get("route_table_id") == first]
    assert "1 AWS would not let us repair" in str(report)

    reconcile()  # the conflict lasts: counted again, not recorded again
    assert AuditEvent.objects.filter(action="peering.resync_failed").count() == 1


def test_a_refused_repair_is_recorded_without_awss_own_words(aws_deployment, monkeypatch):
    peering = provisioned(aws_deployment)
    vendor_ec2().revoke_ingress(aws_deployment.security_group_id, "172.16.8.0/24", 8883)

    def unauthorized(self, *args, **kwargs):
        raise aws.AwsRefused(
            "User: arn:aws:sts::123456789012:assumed-role/PeeringPortal/x is "
            "not authorized. Encoded authorization failure message: Zm9v",
            code="UnauthorizedOperation",
        )

    monkeypatch.setattr(aws.Ec2, "ensure_ingress", unauthorized)
    assert reconcile().unrepaired == 1
    failed = AuditEvent.objects.get(action="peering.resync_failed")
    assert "AWS refused (UnauthorizedOperation)" in failed.message_text
    assert "arn:aws" not in event_text(failed) and "Zm9v" not in event_text(failed)
    assert failed.target_id == str(peering.pk)


def test_the_scheduled_task_queues_batches_that_credit_their_findings_to_system(
    aws_deployment, django_capture_on_commit_callbacks
):
    from peerings import tasks

    peering = provisioned(aws_deployment)
    ec2 = vendor_ec2()
    ec2.revoke_ingress(aws_deployment.security_group_id, "172.16.8.0/24", 8883)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert "1 batches of deployments queued" in tasks.reconcile_peerings()
    assert len(queued) == 1
    assert rules_for(aws_deployment, "172.16.8.0/24") == [1883, 8883]
    event = AuditEvent.objects.get(action="peering.resynced")
    assert (event.source, event.actor_id, event.target_id) == ("system", None, str(peering.pk))


def test_a_clean_peering_is_checked_without_filling_the_audit_log(aws_deployment):
    provisioned(aws_deployment)
    before = AuditEvent.objects.count()
    report = reconcile()
    assert (report.checked, report.repaired, report.peer_deleted) == (1, 0, 0)
    assert AuditEvent.objects.count() == before


def test_a_resync_working_from_a_stale_row_does_not_put_back_what_a_delete_removed(aws_deployment):
    peering = provisioned(aws_deployment)
    stale = PeeringConnection.objects.get(pk=peering.pk)  # reconcile read it as running
    peering.move("deleting", allowed_from=["running"])
    services.remove_vendor_side(peering, ec2=vendor_ec2())  # the delete task
    assert services.resync(stale) == []
    assert rules_for(aws_deployment, "172.16.8.0/24") == []


def _age(peering, seconds):
    PeeringConnection.objects.filter(pk=peering.pk).update(
        status_changed_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_stuck_pending_peering_is_requeued_and_converges(
    aws_deployment, django_capture_on_commit_callbacks
):
    peering = confirmed(aws_deployment)
    _age(peering, 3600)
    with django_capture_on_commit_callbacks(execute=True):
        report = reconcile(stuck_after=600)
    assert report.requeued == 1
    peering.refresh_from_db()
    assert peering.status == "running"
    assert AuditEvent.objects.get(action="peering.requeued").source == "system"


def test_a_recent_transitional_peering_is_left_alone(
    aws_deployment, django_capture_on_commit_callbacks
):
    peering = make_peering(aws_deployment, "provisioning", n=0xA)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        report = reconcile(stuck_after=600)
    assert report.requeued == 0 and queued == []
    assert PeeringConnection.objects.get(pk=peering.pk).status == "provisioning"


def test_a_stuck_deleting_peering_is_requeued_and_deleted(
    aws_deployment, django_capture_on_commit_callbacks
):
    peering = provisioned(aws_deployment)
    peering.move("deleting", allowed_from=["running"])
    _age(peering, 3600)
    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile(stuck_after=600).requeued == 1
    peering.refresh_from_db()
    assert peering.status == "deleted"
    assert not any(routes_to(aws_deployment, peering).values())


def test_a_requeued_peering_is_not_queued_again_by_the_next_run(
    aws_deployment, django_capture_on_commit_callbacks
):
    peering = make_peering(aws_deployment, "provisioning", n=0xA)
    _age(peering, 3600)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert reconcile(stuck_after=600).requeued == 1
        assert reconcile(stuck_after=600).requeued == 0
    assert len(queued) == 1


@pytest.mark.parametrize("state", ["expired", "rejected", "failed"])
def test_a_connection_aws_reports_gone_becomes_peer_deleted(monkeypatch, deployment, state):
    ec2 = stub_ec2(monkeypatch)
    peering = make_peering(deployment, "failed", n=0xC)
    with Stubber(ec2) as stubber:
        stubber.add_response(
            "describe_vpc_peering_connections", described(deployment, state, pcx=peering.peering_id)
        )
        # Our side is read, and holds nothing of this peering: nothing is written.
        stubber.add_response("describe_route_tables", {"RouteTables": []})
        stubber.add_response("describe_security_groups", no_rules(deployment))
        report = reconcile()
        stubber.assert_no_pending_responses()
    assert report.peer_deleted == 1
    peering.refresh_from_db()
    assert peering.status == "peer_deleted"
    assert f"is {state} in AWS" in peering.status_reason


def test_an_unreachable_aws_is_counted_and_changes_nothing(aws_deployment, monkeypatch):
    peering = provisioned(aws_deployment)

    def unavailable(self, vpc_ids):
        raise aws.AwsUnavailable("down", code="RequestLimitExceeded")

    monkeypatch.setattr(aws.Ec2, "peerings_to", unavailable)
    report = reconcile()
    assert (report.checked, report.unreachable) == (1, 1)
    assert PeeringConnection.objects.get(pk=peering.pk).status == "running"


def test_the_command_prints_its_counts(aws_deployment, capsys):
    peering = provisioned(aws_deployment)
    customer_ec2().delete_peering(peering.peering_id)
    call_command("reconcile")
    out = capsys.readouterr().out
    assert "checked 1 peerings: 1 deleted on the customer side, 0 repaired" in out


def test_the_reconcile_schedule_exists(db):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="peerings.tasks.reconcile_peerings")
    assert schedule.schedule_type == Schedule.MINUTES
    assert schedule.repeats == -1
