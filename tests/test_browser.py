"""The whole flow in a real browser: a live Django server, a real django-q2 cluster process
and a moto server as AWS, driven through Debian's headless Chromium by Playwright, as a
customer and then a support engineer would use the portal."""

from urllib.parse import quote

import boto3
import pytest
from django.conf import settings

from demo import world
from peerings import aws
from peerings.models import PeeringConnection
from tests.support.aws import CUSTOMER
from tests.support.browser import ARTIFACTS, skip_without_chromium

skip_without_chromium()

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def customer_ec2(region):
    """The customer's own AWS account, reached with plain boto3 (not the portal's code)."""
    sts = boto3.client("sts", region_name=region)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{CUSTOMER}:role/customer", RoleSessionName="customer"
    )["Credentials"]
    return boto3.client(
        "ec2",
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def customer_request(values, cidr, region=None):
    """Do what the dialog tells the customer to do, with exactly the values it shows."""
    ec2 = customer_ec2(region or values["region"])
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(
        VpcId=vpc_id,
        PeerVpcId=values["vpc"],
        PeerOwnerId=values["account"],
        PeerRegion=values["region"],
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    return pcx, vpc_id


def log_in(page, base, username, password):
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")  # not the header's language switcher
    expect(page.locator("h1")).to_have_text("Deployments")


def open_dialog(page):
    page.click("#new-peering")
    expect(page.locator("#peering-dialog")).to_be_visible()
    return {
        key: page.text_content(f"#value-{key}").strip()
        for key in ("region", "vpc", "cidr", "account")
    }


def confirm(page, pcx, account, vpc):
    page.fill("#id_peering_id", pcx)
    page.fill("#id_account_id", account)
    page.fill("#id_vpc_id", vpc)
    page.click("#peering-form button[type=submit]")


def test_a_customer_peers_binds_deletes_and_support_sees_it_all(
    simulator,
    live_server,
    cluster,
    browser_page,
):
    page, base = browser_page, live_server.url
    world.seed()

    # 1. The owner logs in; free-trial and shared deployments offer no peering.
    log_in(page, base, "demo", "demo")
    for name in ("trial-broker", "shared-broker"):
        page.click(f"text={name}")
        expect(page.locator("text=VPC peering is not available")).to_be_visible()
        expect(page.locator("#new-peering")).to_have_count(0)
        page.go_back()

    # 2. A dedicated deployment: the dialog's four values, a request made with them as the
    # customer, the three values typed back, and the row reaching running by itself.
    page.click("text=orders-us-east")
    values = open_dialog(page)
    page.screenshot(path=ARTIFACTS / "dialog.png", full_page=True)
    pcx, vpc_id = customer_request(values, "172.16.8.0/24")
    confirm(page, pcx, CUSTOMER, vpc_id)
    expect(page.locator("#dialog")).not_to_be_visible()
    row = page.locator("tbody.peering", has_text=pcx)
    expect(row).to_have_attribute("data-status", "running", timeout=60_000)
    # Seen reaching running, the row opens the customer's own last steps by itself, and
    # says so in the page's status region.
    steps = row.locator("details.next-steps")
    expect(steps).to_have_attribute("open", "")
    expect(row.locator(".customer-steps")).to_contain_text(f"--vpc-peering-connection-id {pcx}")
    expect(page.locator("#flash")).to_contain_text(f"{pcx} is running now")
    page.screenshot(path=ARTIFACTS / "running.png", full_page=True)

    # 3. The simulator holds our route and our security-group rule.
    peering = PeeringConnection.objects.get(peering_id=pcx)
    deployment = peering.deployment
    vendor = aws.Ec2(deployment.region, deployment.vendor_account_id)
    routes = [
        r
        for rs in vendor.route_tables(deployment.vpc_id).values()
        for r in rs
        if r.get("VpcPeeringConnectionId") == pcx
    ]
    assert [r["DestinationCidrBlock"] for r in routes] == ["172.16.8.0/24"]
    assert ("172.16.8.0/24", 1883) in vendor.ingress_rules(deployment.security_group_id)

    # 4. Three mistakes, each refused next to its field, nothing saved.
    count = PeeringConnection.objects.count()
    other_pcx, _ = customer_request(values, "172.16.9.0/24")
    values_dialog = open_dialog(page)
    assert values_dialog == values
    confirm(page, other_pcx, CUSTOMER, "vpc-0123456789abcdef0")
    expect(page.locator("#errors-vpc_id")).to_contain_text("comes from VPC")
    page.screenshot(path=ARTIFACTS / "refusal.png", full_page=True)
    far_pcx, far_vpc = customer_request(values, "172.16.10.0/24", region="eu-west-1")
    confirm(page, far_pcx, CUSTOMER, far_vpc)
    expect(page.locator("#errors-peering_id")).to_contain_text("same region")
    reserved_pcx, reserved_vpc = customer_request(values, "100.64.0.0/16")
    confirm(page, reserved_pcx, CUSTOMER, reserved_vpc)
    expect(page.locator("#errors-vpc_id")).to_contain_text("100.0.0.0/8")
    assert PeeringConnection.objects.count() == count
    page.click("#peering-dialog [data-close-dialog]")

    # 5. A resource on the peering blocks its deletion until the resource is gone.
    page.click("#new-resource")
    page.fill("#id_name", "orders-db")
    page.select_option("#id_kind", "mysql")
    page.fill("#id_host", "172.16.8.20")
    page.fill("#id_port", "3306")
    page.select_option("#id_peering", str(peering.pk))
    page.click("#resource-form button[type=submit]")
    expect(page.locator("#resource-table")).to_contain_text("orders-db")
    row.locator("text=Delete").click()
    expect(page.locator("#delete-refusal")).to_contain_text("orders-db")
    page.screenshot(path=ARTIFACTS / "delete-refused.png", full_page=True)
    page.click("#delete-dialog [data-close-dialog]")
    page.locator("#resource-table tr", has_text="orders-db").locator("text=Delete").click()
    page.click("#confirm-resource-delete")
    expect(page.locator("#resource-table")).not_to_contain_text("orders-db")
    row.locator("text=Delete").click()
    page.click("#confirm-delete")
    expect(row).to_have_attribute("data-status", "deleted", timeout=60_000)
    seen = vendor.describe_peering(pcx)
    assert seen is None or seen.status == "deleted"

    # 6. The audit page shows each action with the owner as actor; support sees it too.
    actions = (
        "peering.created",
        "peering.running",
        "resource.created",
        "resource.deleted",
        "peering.delete_requested",
        "peering.deleted",
    )
    page.goto(f"{base}/audit/")
    for action in actions:
        event = page.locator(f".audit-row[data-action='{action}']").first
        expect(event).to_contain_text("demo")
    page.click("text=Log out")
    organization = quote(peering.deployment.organization.name)
    page.goto(
        f"{base}/admin/login/?next=" + quote(f"/admin/core/auditevent/?q={organization}", safe="")
    )
    page.fill("#id_username", "support")
    page.fill("#id_password", "support")
    page.click("input[type=submit]")
    results = page.locator("#result_list")
    for action in actions:
        listed = results.locator("tbody tr", has_text=action).first
        expect(listed).to_contain_text("demo")  # the owner, as actor
    assert settings.DEMO_CUSTOMER_ACCOUNT_ID == CUSTOMER
