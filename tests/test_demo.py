import httpx
import pytest
from django.core.management import call_command

from core.models import Membership, Organization
from peerings import aws, demo
from peerings.models import Deployment, PeeringConnection

pytestmark = pytest.mark.django_db


def vpcs_in_simulator(region):
    ec2 = aws.Ec2(region, "123456789012")
    return {v["VpcId"] for v in ec2.ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")}


def test_seeding_builds_the_demo_world_in_the_database_and_the_simulator(simulator):
    report = demo.seed()
    assert report.created == 4
    organization = Organization.objects.get(name="Demo Org")
    assert Membership.objects.get(user__username="demo").role == "owner"
    support = Membership.objects.filter(user__username="support")
    assert not support.exists()  # staff, not a customer
    plans = set(Deployment.objects.values_list("plan", flat=True))
    assert plans == {"free_trial", "shared", "dedicated"}
    regions = set(
        Deployment.objects.filter(plan="dedicated").values_list("region", flat=True)
    )
    assert regions == {"us-east-1", "eu-west-1"}
    for deployment in organization.deployments.all():
        ec2 = aws.Ec2(deployment.region, deployment.vendor_account_id)
        assert ec2.vpc_exists(deployment.vpc_id)
        assert ec2.route_tables(deployment.vpc_id)
        groups = ec2.ec2.describe_security_groups(GroupIds=[deployment.security_group_id])
        assert groups["SecurityGroups"][0]["VpcId"] == deployment.vpc_id


def test_seeding_twice_changes_nothing(simulator):
    demo.seed()
    before = list(Deployment.objects.values_list("name", "vpc_id", "security_group_id"))
    vpcs = vpcs_in_simulator("us-east-1")
    report = demo.seed()
    assert report.kept == 4 and report.created == report.rebuilt == 0
    assert list(Deployment.objects.values_list("name", "vpc_id", "security_group_id")) == before
    assert vpcs_in_simulator("us-east-1") == vpcs


def test_seeding_a_fresh_simulator_repoints_the_database_without_duplicates(simulator):
    demo.seed()
    deployment = Deployment.objects.get(name="orders-us-east")
    request = demo.create_customer_request(deployment)
    PeeringConnection.objects.create(
        deployment=deployment, peering_id=request.peering_id, status="running",
        customer_account_id=request.account_id, customer_vpc_id=request.vpc_id,
        customer_cidrs=[request.cidr],
    )
    old_vpc = deployment.vpc_id
    httpx.post(f"{simulator}/moto-api/reset", timeout=10).raise_for_status()

    report = demo.seed()

    assert report.rebuilt == 4
    assert Deployment.objects.count() == 4
    deployment.refresh_from_db()
    assert deployment.vpc_id != old_vpc
    assert aws.Ec2("us-east-1", "123456789012").vpc_exists(deployment.vpc_id)
    stale = PeeringConnection.objects.get(peering_id=request.peering_id)
    assert stale.status == "deleted"
    assert "simulator was restarted" in stale.status_reason


def test_the_demo_users_can_log_in(simulator, client):
    demo.seed()
    assert client.login(username="demo", password="demo")
    assert client.login(username="support", password="support")
    assert client.get("/admin/").status_code == 200


def test_the_customer_command_creates_a_request_the_deployment_can_see(simulator, capsys):
    demo.seed()
    deployment = Deployment.objects.get(name="orders-us-east")
    call_command("create_customer_request", "orders-us-east", "--cidr", "172.31.5.0/24")
    out = capsys.readouterr().out
    values = dict(
        line.strip().split(": ", 1) for line in out.splitlines() if line.startswith("  ")
    )
    seen = aws.Ec2("us-east-1", "123456789012").describe_peering(values["Peering ID"])
    assert seen.status == "pending-acceptance"
    assert seen.accepter_vpc_id == deployment.vpc_id
    assert seen.requester_account_id == values["Account ID"] == "210987654321"
    assert seen.requester_vpc_id == values["VPC ID"].strip()
    assert seen.requester_cidrs == ["172.31.5.0/24"]


def test_seeding_refuses_to_run_against_real_aws(monkeypatch, db):
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with pytest.raises(ImproperlyConfigured, match="AWS_ENDPOINT_URL"):
        demo.seed()
