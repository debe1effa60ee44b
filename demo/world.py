"""The demo world: an organization, its users, and deployments backed by real VPCs in the
simulated vendor account. Only for the simulator."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from core import audit, bootstrap
from core.models import Membership, Organization
from demo.aws import SandboxEc2, require_simulator
from peerings import services
from peerings.models import Deployment, PeeringConnection

ORGANIZATION = "Demo Org"
DEPLOYMENTS = [
    # name, plan, region, CIDR, service ports
    ("trial-broker", Deployment.Plan.FREE_TRIAL, "us-east-1", "10.10.0.0/16", [1883]),
    ("shared-broker", Deployment.Plan.SHARED, "us-east-1", "10.11.0.0/16", [1883]),
    ("orders-us-east", Deployment.Plan.DEDICATED, "us-east-1", "10.20.0.0/16", [1883, 8883]),
    ("telemetry-eu-west", Deployment.Plan.DEDICATED, "eu-west-1", "10.30.0.0/16", [1883, 8883]),
]


@dataclass
class SeedReport:
    created: int = 0
    rebuilt: int = 0
    kept: int = 0


def seed():
    """Idempotent: run it any number of times, against a fresh or a used simulator, and the
    database ends up describing exactly the VPCs that exist in the simulator."""
    require_simulator()
    report = SeedReport()
    with audit.acting_as(audit.SYSTEM):
        organization, _ = Organization.objects.get_or_create(name=ORGANIZATION)
        demo = _user("demo", "demo", staff=False)
        Membership.objects.update_or_create(
            user=demo, organization=organization, defaults={"role": Membership.Role.OWNER}
        )
        support = _user("support", "support", staff=True)
        support.groups.add(Group.objects.get(name=bootstrap.SUPPORT_GROUP))
        for name, plan, region, cidr, ports in DEPLOYMENTS:
            _ensure_deployment(organization, name, plan, region, cidr, ports, report)
    return report


def _user(username, password, *, staff):
    user, _ = get_user_model().objects.get_or_create(username=username)
    if not user.check_password(password) or user.is_staff != staff:
        user.set_password(password)
        user.is_staff = staff
        user.save()
    return user


def _ensure_deployment(organization, name, plan, region, cidr, ports, report):
    account_id = settings.VENDOR_HOME_ACCOUNT_ID
    ec2 = SandboxEc2(region, account_id)
    deployment = Deployment.objects.filter(organization=organization, name=name).first()
    if deployment and ec2.vpc_exists(deployment.vpc_id):
        report.kept += 1
        return deployment
    # AWS work first, outside any transaction; then one transaction records it.
    vpc_id, _route_tables, group_id = ec2.create_network(cidr, name)
    values = {
        "plan": plan,
        "region": region,
        "vendor_account_id": account_id,
        "vpc_id": vpc_id,
        "cidr": cidr,
        "security_group_id": group_id,
        "service_ports": ports,
    }
    with transaction.atomic():
        if deployment is None:
            deployment = Deployment.objects.create(organization=organization, name=name, **values)
            report.created += 1
        else:
            _forget_simulated_network(deployment)
            Deployment.objects.filter(pk=deployment.pk).update(**values)
            report.rebuilt += 1
    return deployment


def _forget_simulated_network(deployment):
    """The simulator was restarted and lost this deployment's VPC, and with it every
    peering made against it. Record that, rather than show peerings that no longer exist."""
    for resource in deployment.resources.all():
        audit.record(
            "resource.deleted",
            target=resource,
            message_code="demo_simulator_restarted",
            before={"host": resource.host, "port": resource.port},
        )
    deployment.resources.all().delete()
    for peering in deployment.peerings.exclude(status__in=PeeringConnection.ENDED):
        # The services' own transition, as for any other status change: audited, and
        # announced with peering_status_changed, so the organization's webhooks hear of it.
        services.transition(
            peering,
            to=PeeringConnection.Status.DELETED,
            allowed_from=[peering.status],
            action="peering.deleted",
            reason_code="demo_simulator_restarted",
        )
