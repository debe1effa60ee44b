"""The sandbox customer: an account of its own in the simulator (DEMO_CUSTOMER_ACCOUNT_ID)
that sends peering requests to the demo's deployments, as a real customer does by hand."""

import ipaddress
from dataclasses import dataclass

from django.conf import settings

from demo.aws import SandboxEc2, require_simulator
from peerings.models import PeeringConnection


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
    customer = SandboxEc2(region, account_id)
    vpc_id, _route_tables, _group = customer.create_network(cidr, "customer-app")
    peering_id = customer.request_peering(
        vpc_id, deployment.vpc_id, deployment.vendor_account_id, deployment.region
    )
    return CustomerRequest(peering_id, account_id, vpc_id, cidr, region)
