"""A bench tool: a moto server holding the reconcile bench's world, built straight through
moto's own backends (10,000 peerings through the API would take longer than the bench), and
answering DescribeVpcPeeringConnections as EC2 does: the `accepter-vpc-info.vpc-id` filter
applied and MaxResults/NextToken honoured (moto ignores both, and would hand every caller
the whole account's peerings in one page).

    python -m bench.reconcile_moto SPEC.json WORLD.json PORT

SPEC: {"vendor", "customer", "region", "deployments", "peerings_per_deployment", "ports"}.
Writes WORLD: [{"vpc_id", "security_group_id", "cidr", "peerings": [{"peering_id",
"customer_vpc_id", "cidr"}]}], then serves on 127.0.0.1:PORT until killed. No Django here."""

import json
import sys
import time

from moto.core.responses import ActionResult
from moto.ec2.models import ec2_backends
from moto.ec2.responses.vpc_peering_connections import VPCPeeringConnections
from moto.server import ThreadedMotoServer


def describe_as_ec2(self):
    ids = self._get_param("VpcPeeringConnectionIds", [])
    found = self.ec2_backend.describe_vpc_peering_connections(vpc_peering_ids=ids)
    accepters = self._filters_from_querystring().get("accepter-vpc-info.vpc-id")
    if accepters:
        found = [pcx for pcx in found if pcx.peer_vpc.id in accepters]
    size = int(self._get_param("MaxResults") or 0)
    if not size:
        return ActionResult({"VpcPeeringConnections": found})
    start = int(self._get_param("NextToken") or 0)
    page = {"VpcPeeringConnections": found[start : start + size]}
    if start + size < len(found):
        page["NextToken"] = str(start + size)
    return ActionResult(page)


def deployment_cidr(number):
    return f"10.{number // 16}.{(number % 16) * 16}.0/20"


def customer_cidr(number):
    return f"172.{16 + number // 256}.{number % 256}.0/24"


def build(spec):
    vendor = ec2_backends[spec["vendor"]][spec["region"]]
    customer = ec2_backends[spec["customer"]][spec["region"]]
    world = []
    number = 0
    for d in range(spec["deployments"]):
        vpc = vendor.create_vpc(deployment_cidr(d))
        vendor.create_route_table(vpc.id)  # a second table, as the provisioning bench has
        tables = [t.id for t in vendor.route_tables.values() if t.vpc_id == vpc.id]
        group = vendor.create_security_group(f"bench-{d}", "service ports", vpc_id=vpc.id)
        peerings = []
        for _ in range(spec["peerings_per_deployment"]):
            cidr = customer_cidr(number)
            number += 1
            theirs = customer.create_vpc(cidr)
            pcx = customer.create_vpc_peering_connection(theirs, vpc)
            vendor.accept_vpc_peering_connection(pcx.id)
            for table in tables:
                vendor.create_route(table, cidr, vpc_peering_connection_id=pcx.id)
            for port in spec["ports"]:
                vendor.authorize_security_group_ingress(
                    group.id,
                    "tcp",
                    port,
                    port,
                    [{"CidrIp": cidr, "Description": f"VPC peering {pcx.id}"}],
                    vpc_id=vpc.id,
                )
            peerings.append({"peering_id": pcx.id, "customer_vpc_id": theirs.id, "cidr": cidr})
        world.append(
            {
                "vpc_id": vpc.id,
                "security_group_id": group.id,
                "cidr": deployment_cidr(d),
                "peerings": peerings,
            }
        )
    return world


def main(spec_path, world_path, port):
    with open(spec_path) as file:
        spec = json.load(file)
    VPCPeeringConnections.describe_vpc_peering_connections = describe_as_ec2
    world = build(spec)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(port), verbose=False)
    server.start()
    with open(world_path, "w") as file:  # written last: its presence says "ready"
        json.dump(world, file)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(*sys.argv[1:4])
