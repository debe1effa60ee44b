"""The demo app: the world it seeds into the simulator, its sandbox customer and its commands;
installed only in demo mode, and never needed (nor moto) by production."""

import json
import subprocess
import sys

import httpx
import pytest
from django.apps import apps
from django.core.management import call_command, get_commands
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from core.models import AuditEvent, Membership, Organization
from demo import world
from demo.aws import SandboxEc2
from peerings import services
from peerings.models import Deployment, PeeringConnection
from tests.support.aws import CUSTOMER, REGION, VENDOR, vendor_ec2
from tests.support.env import ROOT, production_env
from tests.support.factories import confirmed
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def vpcs_in_simulator(region):
    ec2 = SandboxEc2(region, VENDOR)
    return {v["VpcId"] for v in ec2.ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")}


def test_seeding_builds_the_demo_world_in_the_database_and_the_simulator(simulator):
    report = world.seed()
    assert report.created == 4
    organization = Organization.objects.get(name="Demo Org")
    assert Membership.objects.get(user__username="demo").role == "owner"
    support = Membership.objects.filter(user__username="support")
    assert not support.exists()  # staff, not a customer
    plans = set(Deployment.objects.values_list("plan", flat=True))
    assert plans == {"free_trial", "shared", "dedicated"}
    regions = set(Deployment.objects.filter(plan="dedicated").values_list("region", flat=True))
    assert regions == {"us-east-1", "eu-west-1"}
    for deployment in organization.deployments.all():
        ec2 = SandboxEc2(deployment.region, deployment.vendor_account_id)
        assert ec2.vpc_exists(deployment.vpc_id)
        assert ec2.route_tables(deployment.vpc_id)
        groups = ec2.ec2.describe_security_groups(GroupIds=[deployment.security_group_id])
        assert groups["SecurityGroups"][0]["VpcId"] == deployment.vpc_id


def test_seeding_twice_changes_nothing(simulator):
    world.seed()
    before = list(Deployment.objects.values_list("name", "vpc_id", "security_group_id"))
    vpcs = vpcs_in_simulator("us-east-1")
    report = world.seed()
    assert report.kept == 4 and report.created == report.rebuilt == 0
    assert list(Deployment.objects.values_list("name", "vpc_id", "security_group_id")) == before
    assert vpcs_in_simulator("us-east-1") == vpcs


def test_seeding_a_fresh_simulator_repoints_the_database_without_duplicates(simulator):
    world.seed()
    deployment = Deployment.objects.get(name="orders-us-east")
    running = confirmed(deployment, status="running")
    old_vpc = deployment.vpc_id
    httpx.post(f"{simulator}/moto-api/reset", timeout=10).raise_for_status()

    report = world.seed()

    assert report.rebuilt == 4
    assert Deployment.objects.count() == 4
    deployment.refresh_from_db()
    assert deployment.vpc_id != old_vpc
    assert SandboxEc2(REGION, VENDOR).vpc_exists(deployment.vpc_id)
    stale = PeeringConnection.objects.get(pk=running.pk)
    assert stale.status == "deleted"
    assert "simulator was restarted" in stale.status_reason


def test_the_reset_is_a_status_change_like_any_other_announced_and_audited(simulator):
    world.seed()
    deployment = Deployment.objects.get(name="orders-us-east")
    stale = confirmed(deployment, status="running")
    endpoint = WebhookEndpoint.objects.create(
        organization=deployment.organization,
        url="https://hooks.example.com/",
        event_types=["peering.deleted"],
        secret="whsec-test",
    )
    announced = []

    def listen(sender, peering, previous, event, **kwargs):
        announced.append((peering.pk, previous, peering.status, event.action))

    services.peering_status_changed.connect(listen)
    try:
        httpx.post(f"{simulator}/moto-api/reset", timeout=10).raise_for_status()
        world.seed()
    finally:
        services.peering_status_changed.disconnect(listen)

    assert announced == [(stale.pk, "running", "deleted", "peering.deleted")]
    event = AuditEvent.objects.get(action="peering.deleted", target_id=str(stale.pk))
    assert event.actor_name == "system"
    assert event.before["status"] == "running"
    assert event.after["status"] == "deleted"
    assert event.after["status_reason_code"] == "demo_simulator_restarted"
    # The organization's webhook hears of it, as of any other deletion.
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.event_type == "peering.deleted"
    assert json.loads(delivery.body)["peering"]["previous_status"] == "running"


def test_the_demo_users_can_log_in(simulator, client):
    world.seed()
    assert client.login(username="demo", password="demo")
    assert client.login(username="support", password="support")
    assert client.get("/admin/").status_code == 200


def test_the_seed_command_reports_what_it_did(simulator, demo_mode, capsys):
    call_command("seed_demo")
    assert "Demo world ready: 4 deployments created, 0 rebuilt" in capsys.readouterr().out


def test_the_customer_command_creates_a_request_the_deployment_can_see(
    simulator, demo_mode, capsys
):
    world.seed()
    deployment = Deployment.objects.get(name="orders-us-east")
    call_command("create_customer_request", "orders-us-east", "--cidr", "172.31.5.0/24")
    out = capsys.readouterr().out
    values = dict(line.strip().split(": ", 1) for line in out.splitlines() if line.startswith("  "))
    seen = vendor_ec2().describe_peering(values["Peering ID"])
    assert seen.status == "pending-acceptance"
    assert seen.accepter_vpc_id == deployment.vpc_id
    assert seen.requester_account_id == values["Account ID"] == CUSTOMER
    assert seen.requester_vpc_id == values["VPC ID"].strip()
    assert seen.requester_cidrs == ["172.31.5.0/24"]


def test_seeding_refuses_to_run_against_real_aws(monkeypatch, db):
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with pytest.raises(ImproperlyConfigured, match="AWS_ENDPOINT_URL"):
        world.seed()


# --- installed only in demo mode; production needs neither it nor moto ---


def test_production_has_no_demo_app_urls_or_commands(settings):
    assert not settings.DEMO_MODE  # the suite's settings are production's
    assert not apps.is_installed("demo")
    with pytest.raises(NoReverseMatch):
        reverse("peering-demo-request", args=[1])
    with pytest.raises(Resolver404):
        resolve("/deployments/1/peerings/demo-request/")
    assert not {"seed_demo", "create_customer_request"} & set(get_commands())


def test_demo_mode_installs_the_app_its_urls_and_its_commands(demo_mode):
    assert apps.is_installed("demo")
    assert resolve(reverse("peering-demo-request", args=[1])).url_name == "peering-demo-request"
    assert {"seed_demo", "create_customer_request"} <= set(get_commands())


# manage.py as production runs it, but with moto made unimportable first: any module that
# production loads and that imports moto, directly or not, makes the command fail.
WITHOUT_MOTO = (
    "import runpy, sys\n"
    "sys.modules['moto'] = None  # from here on, `import moto` raises ImportError\n"
    "sys.argv[0] = 'manage.py'\n"
    "runpy.run_path('manage.py', run_name='__main__')\n"
)
PRODUCTION_PACKAGES = ("peering_portal", "peerings", "webhooks")


def manage_without_moto(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_MOTO, *args],
        cwd=ROOT,
        # `shell` opens the database: a throwaway one, not the checkout's db.sqlite3.
        env=production_env(
            DEMO_MODE="false",
            SECURE_SSL_REDIRECT="true",
            SECURE_COOKIES="true",
            SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_runs_without_moto(tmp_path):
    blocked = manage_without_moto(tmp_path, "shell", "-c", "import moto")
    assert blocked.returncode != 0 and "ModuleNotFoundError" in blocked.stderr  # it bites

    checked = manage_without_moto(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "System check identified no issues (0 silenced)."
    assert checked.stderr == ""

    # Beyond what `check` loads: every module of the production packages (tasks, commands,
    # admin...), and none of them pulls the demo app in.
    imported = manage_without_moto(
        tmp_path,
        "shell",
        "-c",
        (
            "import importlib, pkgutil, sys\n"
            f"for name in {PRODUCTION_PACKAGES!r}:\n"
            "    package = importlib.import_module(name)\n"
            "    for module in pkgutil.walk_packages(package.__path__, name + '.'):\n"
            "        importlib.import_module(module.name)\n"
            "print(sorted(m for m in sys.modules if m == 'demo' or m.startswith('demo.')))\n"
        ),
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert imported.stdout.strip().splitlines()[-1] == "[]"
