"""The floor of provisioning: the AWS calls the portal's worker makes for one peering
(describe, accept, poll until active, describe route tables, read the security group, a
route per table, an ingress rule per port), made back-to-back by a plain boto3 script with
no database, no queue and no checks. Reads a JSON spec, prints a JSON result. No Django here."""

import json
import os
import sys
import time

import boto3
from botocore.config import Config

from bench.awscalls import CallLog

POLL_LIMIT_SECONDS = 60


def provision(ec2, spec, request):
    peering_id, cidr, vpc_id = request["peering_id"], request["cidr"], request["vpc_id"]
    ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[peering_id])
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=peering_id)
    deadline, delay = time.monotonic() + POLL_LIMIT_SECONDS, 0.5
    while True:
        answer = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[peering_id])
        if answer["VpcPeeringConnections"][0]["Status"]["Code"] == "active":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{peering_id} did not become active")
        time.sleep(delay)
        delay = min(delay * 2, 5)
    pages = ec2.get_paginator("describe_route_tables").paginate(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
    )
    tables = [
        t["RouteTableId"] for page in pages for t in page["RouteTables"] if t["VpcId"] == vpc_id
    ]
    ec2.describe_security_groups(
        Filters=[{"Name": "group-id", "Values": [request["security_group_id"]]}]
    )
    for table_id in tables:
        ec2.create_route(
            RouteTableId=table_id, DestinationCidrBlock=cidr, VpcPeeringConnectionId=peering_id
        )
    for port in spec["ports"]:
        ec2.authorize_security_group_ingress(
            GroupId=request["security_group_id"],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "IpRanges": [{"CidrIp": cidr, "Description": f"VPC peering {peering_id}"}],
                }
            ],
        )


def main(spec_path):
    with open(spec_path) as file:
        spec = json.load(file)
    # The portal's client configuration (peerings/aws.py), so only the caller differs.
    config = Config(
        retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10
    )
    ec2 = boto3.session.Session().client("ec2", region_name=spec["region"], config=config)
    CallLog(os.environ["BENCH_CALLS_DIR"]).watch(ec2)
    started = time.monotonic()
    for request in spec["requests"]:
        provision(ec2, spec, request)
    print(json.dumps({"seconds": time.monotonic() - started, "peerings": len(spec["requests"])}))


if __name__ == "__main__":
    main(sys.argv[1])
