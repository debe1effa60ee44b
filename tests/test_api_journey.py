"""The whole automation journey, as a customer's script runs it: an owner makes a key on
the API keys page, the customer makes the peering request with the AWS CLI, and httpx
drives the API of a live server while a real worker cluster does the AWS work in the
simulator: create → poll until running → bind a resource → delete refused (409) →
delete the resource → delete → 404."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import pytest

from demo.aws import SandboxEc2
from tests.support.aws import CUSTOMER, REGION

AWS_CLI = str(Path(sys.executable).parent / "aws")


def key_from_the_page(base_url, username, password, organization):
    """Log in and create a member key, as an owner does in a browser: the secret shown."""
    with httpx.Client(base_url=base_url, follow_redirects=True, timeout=20) as browser:
        browser.get("/login/")
        browser.post(
            "/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
        )
        page = browser.post(
            f"/organizations/{organization.pk}/api-keys/new/",
            data={
                "name": "terraform",
                "role": "member",
                "expires_on": "",
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
        )
        return re.search(r'id="api-key-secret">([^<]+)<', page.text).group(1)


def request_with_the_aws_cli(simulator, deployment):
    """The customer's VPC (made in the sandbox account) and the peering request made from
    it with `aws ec2 create-vpc-peering-connection`, under that account's credentials."""
    vpc_id, _tables, _group = SandboxEc2(REGION, CUSTOMER).create_network(
        "172.16.8.0/24", "customer-app"
    )
    credentials = boto3.client("sts", endpoint_url=simulator, region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{CUSTOMER}:role/customer", RoleSessionName="cli"
    )["Credentials"]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
    pcx = subprocess.run(
        [
            AWS_CLI,
            "ec2",
            "create-vpc-peering-connection",
            "--endpoint-url",
            simulator,
            "--region",
            REGION,
            "--vpc-id",
            vpc_id,
            "--peer-vpc-id",
            deployment.vpc_id,
            "--peer-owner-id",
            deployment.vendor_account_id,
            "--peer-region",
            deployment.region,
            "--query",
            "VpcPeeringConnection.VpcPeeringConnectionId",
            "--output",
            "text",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    return {"peering_id": pcx, "account_id": CUSTOMER, "vpc_id": vpc_id}


def poll(api, url, until, log, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = api.get(url)
        if until(response):
            return response
        time.sleep(0.5)
    log.seek(0)
    raise AssertionError(f"{url} never got there: {response.text}\n{log.read()[-3000:]}")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_script_automates_the_whole_peering_journey(
    live_server, aws_deployment, organization, owner, cluster, simulator
):
    _process, log = cluster
    secret = key_from_the_page(live_server.url, "olivia", "pw-olivia", organization)
    assert secret.startswith("ppk_")
    request = request_with_the_aws_cli(simulator, aws_deployment)
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as api:
        created = api.post(f"/api/v1/deployments/{aws_deployment.pk}/peerings/", json=request)
        assert created.status_code == 202, created.text
        assert created.json()["status"] == "pending"
        location = created.headers["Location"]

        running = poll(api, location, lambda r: r.json()["status"] == "running", log)
        peering = running.json()
        assert peering["peering_id"] == request["peering_id"]
        assert peering["customer_steps"]["route"]["destination_cidr_block"] == aws_deployment.cidr
        # Import by the AWS ID reads the same peering.
        assert api.get(f"/api/v1/peerings/{request['peering_id']}/").json()["id"] == peering["id"]

        bound = api.post(
            f"/api/v1/deployments/{aws_deployment.pk}/resources/",
            json={
                "name": "orders-db",
                "kind": "mysql",
                "host": "172.16.8.10",
                "port": 3306,
                "peering": request["peering_id"],
            },
            headers={"Idempotency-Key": "bind-orders-db"},
        )
        assert bound.status_code == 201, bound.text

        refused = api.delete(location)
        assert refused.status_code == 409
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert [r["name"] for r in refused.json()["resources"]] == ["orders-db"]

        assert api.delete(bound.headers["Location"]).status_code == 204

        deleting = api.delete(location)
        assert deleting.status_code == 202, deleting.text
        assert deleting.json()["status"] == "deleting"
        gone = poll(api, location, lambda r: r.status_code == 404, log)
        assert gone.headers["Content-Type"] == "application/problem+json"

        actions = [
            (e["action"], e["actor"])
            for e in api.get("/api/v1/audit-events/", params={"action": "peering.created"}).json()[
                "results"
            ]
        ]
        assert actions == [("peering.created", f"olivia (API key terraform, {secret[:12]}…)")]
