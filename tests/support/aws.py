"""AWS as the tests see it: the vendor's and the sandbox customer's accounts in the moto
simulator, what our side holds there for a peering, and a Stubber-ready client for what
moto cannot play."""

import contextlib
from collections import Counter
from unittest import mock

import boto3
from botocore.client import BaseClient
from django.conf import settings

from peerings import aws

REGION = "us-east-1"
VENDOR = "123456789012"  # the deployments' account (make_deployment's)
CUSTOMER = "210987654321"  # the sandbox customer's (settings.DEMO_CUSTOMER_ACCOUNT_ID)

# The peering connection that Stubber-played AWS describes (`described`).
STUB_PCX = "pcx-0000000000000000c"
STUB_VPC = "vpc-0000000000000000c"
STUB_CIDR = "172.16.0.0/24"


def vendor_ec2():
    return aws.Ec2(REGION, VENDOR)


def customer_ec2():
    return aws.Ec2(REGION, settings.DEMO_CUSTOMER_ACCOUNT_ID)


def routes_to(deployment, peering):
    """{route table: sorted destinations routed to the peering's pcx}, for every route
    table of the deployment's VPC in the simulator ([] where none is)."""
    return {
        table: sorted(
            r["DestinationCidrBlock"]
            for r in routes
            if r.get("VpcPeeringConnectionId") == peering.peering_id
        )
        for table, routes in vendor_ec2().route_tables(deployment.vpc_id).items()
    }


def rules_for(deployment, cidr):
    """The sorted ports the deployment's security group opens to `cidr`."""
    return sorted(
        p for c, p in vendor_ec2().ingress_rules(deployment.security_group_id) if c == cidr
    )


def nothing_left_for(deployment, peering):
    """True when no route to the peering's pcx and no rule for its CIDRs remains."""
    return not any(routes_to(deployment, peering).values()) and not any(
        rules_for(deployment, cidr) for cidr in peering.customer_cidrs
    )


def stub_ec2(monkeypatch):
    """An EC2 client that reaches no network, made the one the portal builds for every
    region and account: wrap it in a botocore Stubber to script AWS's answers."""
    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        endpoint_url="http://127.0.0.1:9",
    )
    monkeypatch.setattr(aws, "client", lambda service, region, account, interactive=False: ec2)
    return ec2


def no_rules(deployment):
    """DescribeSecurityGroups' answer (by group-id filter) for the deployment's group with no
    inbound rule."""
    return {"SecurityGroups": [{"GroupId": deployment.security_group_id, "IpPermissions": []}]}


def described(
    deployment,
    status="pending-acceptance",
    message=None,
    *,
    pcx=STUB_PCX,
    customer_vpc=STUB_VPC,
    **requester,
):
    """AWS's answer to DescribeVpcPeeringConnections for a request from the customer's
    `customer_vpc` (STUB_CIDR) to the deployment's VPC; `requester` overrides its fields."""
    info = {
        "OwnerId": CUSTOMER,
        "VpcId": customer_vpc,
        "Region": REGION,
        "CidrBlock": STUB_CIDR,
        "CidrBlockSet": [{"CidrBlock": STUB_CIDR}],
        **requester,
    }
    return {
        "VpcPeeringConnections": [
            {
                "VpcPeeringConnectionId": pcx,
                "Status": {"Code": status, "Message": status if message is None else message},
                "RequesterVpcInfo": info,
                "AccepterVpcInfo": {
                    "OwnerId": VENDOR,
                    "VpcId": deployment.vpc_id,
                    "Region": REGION,
                    "CidrBlock": deployment.cidr,
                },
            }
        ]
    }


@contextlib.contextmanager
def aws_calls():
    """Every AWS API call made inside the block, counted by operation (`DescribeRouteTables`:
    2, ...): what the product asked of AWS, whichever client asked."""
    calls = Counter()
    real = BaseClient._make_api_call

    def counted(client, operation, params):
        calls[operation] += 1
        return real(client, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", counted):
        yield calls


def aws_network(organization, name, cidr):
    """A deployment whose VPC (two route tables) and security group exist in the simulator,
    as the `aws_deployment` fixture's."""
    from demo.aws import SandboxEc2
    from tests.support.factories import make_deployment

    ec2 = SandboxEc2(REGION, VENDOR)
    vpc_id, _tables, group_id = ec2.create_network(cidr, name)
    ec2.ec2.create_route_table(VpcId=vpc_id)
    return make_deployment(
        organization, name=name, cidr=cidr, vpc_id=vpc_id, security_group_id=group_id
    )
