"""The floor of a reconcile: the reads no reconcile of the same facts can do without, made
back-to-back by a plain boto3 script with no database and no queue. Per (account, region)
one DescribeVpcPeeringConnections paged 1,000 at a time; per deployment one
DescribeRouteTables and one DescribeSecurityGroups; each answer reduced to what a
comparison needs. Reads a JSON spec, prints a JSON result. No Django here."""

import json
import os
import sys
import time

import boto3
from botocore.config import Config

from bench.awscalls import CallLog


def read(ec2, spec):
    states = {}
    for page in ec2.get_paginator("describe_vpc_peering_connections").paginate(
        PaginationConfig={"PageSize": 1000}
    ):
        for pcx in page["VpcPeeringConnections"]:
            states[pcx["VpcPeeringConnectionId"]] = pcx["Status"]["Code"]
    routes, rules = {}, {}
    for deployment in spec["deployments"]:
        vpc_id, group_id = deployment["vpc_id"], deployment["security_group_id"]
        answer = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        routes[vpc_id] = {
            (route.get("DestinationCidrBlock"), route.get("VpcPeeringConnectionId"))
            for table in answer["RouteTables"]
            for route in table["Routes"]
        }
        answer = ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id]}])
        rules[group_id] = {
            (ip_range["CidrIp"], permission.get("FromPort"))
            for group in answer["SecurityGroups"]
            for permission in group["IpPermissions"]
            for ip_range in permission.get("IpRanges", [])
        }
    return states, routes, rules


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
    states, _routes, _rules = read(ec2, spec)
    print(json.dumps({"seconds": time.monotonic() - started, "peerings": len(states)}))


if __name__ == "__main__":
    main(sys.argv[1])
