"""Rows the tests start from: deployments, peerings and resources that never touch AWS, and
peerings made from a real customer request in the simulator."""

from demo import sandbox
from demo.aws import SandboxEc2
from peerings import services
from peerings.models import Deployment, PeeringConnection, Resource
from tests.support.aws import CUSTOMER, REGION, VENDOR


def make_deployment(organization, **overrides):
    """A dedicated deployment with made-up AWS IDs (the `aws_deployment` fixture makes its
    network in the simulator)."""
    values = {
        "name": "orders",
        "plan": Deployment.Plan.DEDICATED,
        "region": REGION,
        "vendor_account_id": VENDOR,
        "vpc_id": "vpc-0a1b2c3d4e5f60718",
        "cidr": "10.20.0.0/16",
        "security_group_id": "sg-0a1b2c3d4e5f60718",
        "service_ports": [1883, 8883],
    }
    values.update(overrides)
    return Deployment.objects.create(organization=organization, **values)


def make_peering(deployment, status="running", n=1, cidr=None, **fields):
    """A peering row that never touches AWS; `n` (below 256) keeps its IDs and its CIDR,
    172.16.n.0/24 unless `cidr` is given, apart from other rows'."""
    values = {
        "peering_id": f"pcx-{n:017x}",
        "customer_account_id": CUSTOMER,
        "customer_vpc_id": f"vpc-{n:017x}",
        "customer_cidrs": [cidr or f"172.16.{n}.0/24"],
        "status": status,
    }
    values.update(fields)
    return PeeringConnection.objects.create(deployment=deployment, **values)


def make_resource(peering, name="orders-db", host=None, port=3306, kind="mysql"):
    """A resource bound to `peering` (which must be running), by default at .10 of its
    customer CIDR."""
    host = host or peering.customer_cidrs[0].rsplit(".", 1)[0] + ".10"
    return Resource.objects.create(
        deployment=peering.deployment, peering=peering, name=name, kind=kind, host=host, port=port
    )


def add_peerings_with_resources(deployment, count):
    """`count` more running peerings, each with a resource, numbered on from the
    deployment's peerings."""
    start = deployment.peerings.count()
    for n in range(start + 1, start + count + 1):
        make_resource(make_peering(deployment, "running", n=n), f"db-{n}")


def confirmed(deployment, cidr="172.16.8.0/24", user=None, **values):
    """A customer request made in the simulator and saved as pending, the way the dialog
    saves it (the worker has not run); `values` set other fields of the row."""
    request = sandbox.create_customer_request(deployment, cidr=cidr)
    return PeeringConnection.objects.create(
        deployment=deployment,
        peering_id=request.peering_id,
        customer_account_id=request.account_id,
        customer_vpc_id=request.vpc_id,
        customer_cidrs=[request.cidr],
        created_by=user,
        **values,
    )


def verified_request(deployment, cidr="172.16.8.0/24"):
    """A customer request made in the simulator and passed through the dialog's checks:
    what services.create_peering takes."""
    request = sandbox.create_customer_request(deployment, cidr=cidr)
    return services.check_new_peering(
        deployment,
        peering_id=request.peering_id,
        account_id=request.account_id,
        vpc_id=request.vpc_id,
    )


def provisioned(deployment, cidr="172.16.8.0/24"):
    """A peering the worker has taken to running, routes and rules in the simulator."""
    peering = confirmed(deployment, cidr)
    assert services.provision(peering.pk) == "running"
    peering.refresh_from_db()
    return peering


def another_organizations_deployment(their_member):
    """A deployment of `their_member`'s organization in the same vendor account and region
    as the `aws_deployment` fixture's, its network in the simulator."""
    vpc_id, _, group_id = SandboxEc2(REGION, VENDOR).create_network("10.50.0.0/16", "theirs")
    return make_deployment(
        their_member.memberships.get().organization,
        name="theirs",
        vpc_id=vpc_id,
        security_group_id=group_id,
        cidr="10.50.0.0/16",
    )
