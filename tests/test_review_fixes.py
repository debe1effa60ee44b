"""Rules found missing by review, each pinned by a test that fails when it is broken."""

import pytest
from botocore.stub import Stubber
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse
from django_q.models import Schedule

from core.models import AuditEvent
from peerings import aws, services
from peerings.models import PeeringConnection, Resource
from tests.support.factories import provisioned

pytestmark = pytest.mark.django_db

VENDOR = "123456789012"


def rules(deployment, cidr):
    return sorted(
        p
        for c, p in aws.Ec2("us-east-1", VENDOR).ingress_rules(deployment.security_group_id)
        if c == cidr
    )


def customer():
    return aws.Ec2("us-east-1", settings.DEMO_CUSTOMER_ACCOUNT_ID)


def test_deleting_an_ended_peering_keeps_the_rules_a_live_one_with_its_cidr_needs(aws_deployment):
    old = provisioned(aws_deployment)
    customer().delete_peering(old.peering_id)
    services.resync(old)
    assert PeeringConnection.objects.get(pk=old.pk).status == "peer_deleted"
    new = provisioned(aws_deployment)  # the customer's new VPC reuses 172.16.8.0/24
    assert rules(aws_deployment, "172.16.8.0/24") == [1883, 8883]
    old.refresh_from_db()
    services.request_delete(old)
    assert services.deprovision(old.pk) == "deleted"
    assert rules(aws_deployment, "172.16.8.0/24") == [1883, 8883]
    assert PeeringConnection.objects.get(pk=new.pk).status == "running"


def test_a_resync_working_from_a_stale_row_does_not_put_back_what_a_delete_removed(aws_deployment):
    peering = provisioned(aws_deployment)
    stale = PeeringConnection.objects.get(pk=peering.pk)  # reconcile read it as running
    peering.move("deleting", allowed_from=["running"])
    services.remove_vendor_side(peering, ec2=aws.Ec2("us-east-1", VENDOR))  # the delete task
    assert services.resync(stale) == []
    assert rules(aws_deployment, "172.16.8.0/24") == []


def test_the_delete_task_removes_what_a_racing_repair_put_back(aws_deployment, monkeypatch):
    peering = provisioned(aws_deployment)
    peering.move("deleting", allowed_from=["running"])
    real_delete = aws.Ec2.delete_peering

    def repair_sneaks_in(self, peering_id):
        # Between our revoke and the pcx delete, a repair re-adds a rule.
        self.ensure_ingress(aws_deployment.security_group_id, "172.16.8.0/24", 1883, "x")
        return real_delete(self, peering_id)

    monkeypatch.setattr(aws.Ec2, "delete_peering", repair_sneaks_in)
    assert services.deprovision(peering.pk) == "deleted"
    assert rules(aws_deployment, "172.16.8.0/24") == []


def test_throttling_during_a_delete_is_retried_later_not_a_failure(
    aws_deployment, monkeypatch, django_capture_on_commit_callbacks
):
    peering = provisioned(aws_deployment)
    peering.move("deleting", allowed_from=["running"])

    def throttled(self, peering_id):
        raise aws.AwsUnavailable("slow down", code="RequestLimitExceeded")

    monkeypatch.setattr(aws.Ec2, "delete_peering", throttled)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.deprovision(peering.pk) == "deleting"
    assert Schedule.objects.filter(func="peerings.tasks.deprovision_peering").exists()
    monkeypatch.undo()
    assert services.deprovision(peering.pk, unavailable_rounds=1) == "deleted"


def test_the_dialog_shows_an_aws_refusal_instead_of_failing(client, owner, deployment, monkeypatch):
    import boto3

    ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        endpoint_url="http://127.0.0.1:9",
    )
    monkeypatch.setattr(aws, "client", lambda service, region, account, interactive=False: ec2)
    client.force_login(owner)
    with Stubber(ec2) as stubber:
        stubber.add_client_error(
            "describe_vpc_peering_connections",
            service_error_code="UnauthorizedOperation",
            service_message="arn:aws:iam::123456789012:role/secret-detail",
        )
        response = client.post(
            reverse("peering-new", args=[deployment.pk]),
            {
                "peering_id": "pcx-0123456789abcdef0",
                "account_id": "210987654321",
                "vpc_id": "vpc-0123456789abcdef0",
            },
            HTTP_HX_REQUEST="true",
        )
    page = response.content.decode()
    assert response.status_code == 200
    assert "AWS refused our check of your request (UnauthorizedOperation)" in page
    assert "secret-detail" not in page
    assert not PeeringConnection.objects.exists()


def test_retry_of_a_row_made_unretryable_meanwhile_does_nothing(deployment):
    row = PeeringConnection.objects.create(
        deployment=deployment,
        peering_id="pcx-0000000000000000a",
        customer_account_id="210987654321",
        customer_vpc_id="vpc-0000000000000000a",
        customer_cidrs=["172.16.0.0/24"],
        status="failed",
        retryable=True,
    )
    stale = PeeringConnection.objects.get(pk=row.pk)
    PeeringConnection.objects.filter(pk=row.pk).update(retryable=False)
    assert services.retry_peering(stale) is False
    assert PeeringConnection.objects.get(pk=row.pk).status == "failed"


def test_a_resource_deleted_twice_is_audited_once(deployment):
    peering = PeeringConnection.objects.create(
        deployment=deployment,
        peering_id="pcx-0000000000000000a",
        customer_account_id="210987654321",
        customer_vpc_id="vpc-0000000000000000a",
        customer_cidrs=["172.16.0.0/24"],
        status="running",
    )
    resource = Resource.objects.create(
        deployment=deployment,
        peering=peering,
        name="db",
        kind="mysql",
        host="172.16.0.9",
        port=3306,
    )
    second_click = Resource.objects.get(pk=resource.pk)
    services.delete_resource(resource)
    services.delete_resource(second_click)
    assert AuditEvent.objects.filter(action="resource.deleted").count() == 1


def test_the_admin_applies_the_resource_rules(client, deployment, django_user_model):
    superuser = django_user_model.objects.create_superuser("root", password="x")
    peering = PeeringConnection.objects.create(
        deployment=deployment,
        peering_id="pcx-0000000000000000a",
        customer_account_id="210987654321",
        customer_vpc_id="vpc-0000000000000000a",
        customer_cidrs=["172.16.1.0/24"],
        status="running",
    )
    client.force_login(superuser)
    response = client.post(
        "/admin/peerings/resource/add/",
        {
            "deployment": deployment.pk,
            "peering": peering.pk,
            "name": "dns",
            "kind": "http",
            "host": "8.8.8.8",
            "port": 53,
        },
    )
    assert response.status_code == 200
    assert "outside 172.16.1.0/24" in response.content.decode()
    assert not Resource.objects.exists()


def test_a_bulk_delete_of_groups_in_the_admin_is_audited(client, django_user_model):
    superuser = django_user_model.objects.create_superuser("root", password="x")
    first, second = Group.objects.create(name="a"), Group.objects.create(name="b")
    client.force_login(superuser)
    client.post(
        "/admin/auth/group/",
        {"action": "delete_selected", "post": "yes", "_selected_action": [first.pk, second.pk]},
    )
    assert not Group.objects.filter(pk__in=[first.pk, second.pk]).exists()
    events = AuditEvent.objects.filter(action="admin.group.deleted")
    assert sorted(e.after["object"] for e in events) == ["a", "b"]
    assert {e.actor_id for e in events} == {superuser.pk}
