"""The demo world: deployments backed by real VPCs in the simulated vendor account, and a
sandbox *customer* account that can send peering requests to them. Only for the simulator."""

import ipaddress
import os
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from core import audit, bootstrap
from core.models import Membership, Organization
from peerings.aws import Ec2
from peerings.models import Deployment, PeeringConnection

ORGANIZATION = "Demo Org"
DEPLOYMENTS = [
    # name, plan, region, CIDR, service ports
    ("trial-broker", Deployment.Plan.FREE_TRIAL, "us-east-1", "10.10.0.0/16", [1883]),
    ("shared-broker", Deployment.Plan.SHARED, "us-east-1", "10.11.0.0/16", [1883]),
    ("orders-us-east", Deployment.Plan.DEDICATED, "us-east-1", "10.20.0.0/16", [1883, 8883]),
    ("telemetry-eu-west", Deployment.Plan.DEDICATED, "eu-west-1", "10.30.0.0/16", [1883, 8883]),
]


def require_simulator():
    """Seeding creates VPCs: never let it loose on a real AWS account by accident."""
    if not os.environ.get("AWS_ENDPOINT_URL"):
        raise ImproperlyConfigured(
            "The demo world lives in the AWS simulator: set AWS_ENDPOINT_URL "
            "(make run does) before seeding it."
        )


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
    ec2 = Ec2(region, account_id)
    deployment = Deployment.objects.filter(organization=organization, name=name).first()
    if deployment and ec2.vpc_exists(deployment.vpc_id):
        report.kept += 1
        return deployment
    # AWS work first, outside any transaction; then one transaction records it.
    vpc_id, _route_tables, group_id = ec2.create_network(cidr, name)
    values = {
        "plan": plan, "region": region, "vendor_account_id": account_id, "vpc_id": vpc_id,
        "cidr": cidr, "security_group_id": group_id, "service_ports": ports,
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
    reason = "The demo AWS simulator was restarted; this peering no longer exists there."
    for resource in deployment.resources.all():
        audit.record("resource.deleted", target=resource, message=reason,
                     before={"host": resource.host, "port": resource.port})
    deployment.resources.all().delete()
    for peering in deployment.peerings.exclude(status__in=PeeringConnection.ENDED):
        before = peering.status
        if peering.move(PeeringConnection.Status.DELETED,
                        allowed_from=[before], reason=reason):
            audit.record("peering.deleted", target=peering, message=reason,
                         before={"status": before}, after={"status": peering.status})


def free_customer_cidr(deployment, size=24):
    """A /24 in 172.16.0.0/12 that overlaps neither the deployment nor its live peerings."""
    taken = [deployment.network]
    for peering in deployment.peerings.exclude(status__in=PeeringConnection.ENDED):
        taken += [ipaddress.IPv4Network(c) for c in peering.customer_cidrs]
    for candidate in ipaddress.IPv4Network("172.16.0.0/12").subnets(new_prefix=size):
        if not any(candidate.overlaps(t) for t in taken):
            return str(candidate)
    raise ValueError("no free customer CIDR left in 172.16.0.0/12")


@dataclass(frozen=True)
class CustomerRequest:
    peering_id: str
    account_id: str
    vpc_id: str
    cidr: str
    region: str


def create_customer_request(deployment, *, region=None, cidr=None, account_id=None):
    """Play the customer: make a VPC in a sandbox customer account and ask the deployment's
    VPC to peer with it, exactly as the dialog tells a real customer to."""
    require_simulator()
    region = region or deployment.region
    account_id = account_id or settings.DEMO_CUSTOMER_ACCOUNT_ID
    cidr = cidr or free_customer_cidr(deployment)
    customer = Ec2(region, account_id)
    vpc_id, _route_tables, _group = customer.create_network(cidr, "customer-app")
    peering_id = customer.request_peering(
        vpc_id, deployment.vpc_id, deployment.vendor_account_id, deployment.region
    )
    return CustomerRequest(peering_id, account_id, vpc_id, cidr, region)
