"""The demo's own boto3: what only the sandbox does in the AWS simulator. The seed builds the
vendor's deployment networks there, and the simulated customer builds a VPC of its own and
asks a deployment's VPC to peer with it. The portal never creates VPCs or peering requests,
so none of this belongs in peerings.aws.

`SandboxEc2` is peerings.aws.Ec2 with those calls added, on purpose: the same clients (the
vendor's own credentials, or a role assumed in any other account, which is how the sandbox
customer acts in its own account), the same timeouts, and the same errors (`AwsError`), so a
simulator that is down reads exactly as AWS not answering does in the portal."""

import os

from django.core.exceptions import ImproperlyConfigured

from peerings import aws

# peerings.aws's one way to call boto3 with botocore's errors translated into AwsError.
from peerings.aws import _call


def require_simulator():
    """The demo creates VPCs: never let it loose on a real AWS account by accident."""
    if not os.environ.get("AWS_ENDPOINT_URL"):
        raise ImproperlyConfigured(
            "The demo world lives in the AWS simulator: set AWS_ENDPOINT_URL "
            "(make run does) before seeding it."
        )


class SandboxEc2(aws.Ec2):
    """EC2 in one region of one simulated account: the vendor's, or the sandbox customer's."""

    def vpc_exists(self, vpc_id):
        try:
            answer = _call(self.ec2.describe_vpcs, VpcIds=[vpc_id])
        except aws.AwsRefused as exc:
            if exc.code == "InvalidVpcID.NotFound":
                return False
            raise
        return any(v.get("VpcId") == vpc_id for v in answer.get("Vpcs", []))

    def create_network(self, cidr, name):
        """A VPC with its main route table and a security group: what a deployment (or a
        customer) has. Returns (vpc_id, route_table_ids, security_group_id)."""
        vpc_id = _call(
            self.ec2.create_vpc,
            CidrBlock=cidr,
            TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}],
        )["Vpc"]["VpcId"]
        group_id = _call(
            self.ec2.create_security_group,
            GroupName=f"{name}-service",
            Description=f"Service ports of {name}",
            VpcId=vpc_id,
        )["GroupId"]
        return vpc_id, sorted(self.route_tables(vpc_id)), group_id

    def request_peering(self, vpc_id, peer_vpc_id, peer_account_id, peer_region):
        """The customer's side: ask the deployment's VPC to peer with ours."""
        answer = _call(
            self.ec2.create_vpc_peering_connection,
            VpcId=vpc_id,
            PeerVpcId=peer_vpc_id,
            PeerOwnerId=peer_account_id,
            PeerRegion=peer_region,
        )
        return answer["VpcPeeringConnection"]["VpcPeeringConnectionId"]
