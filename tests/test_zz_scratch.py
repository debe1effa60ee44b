import pytest
from playwright.sync_api import sync_playwright

from core.models import AuditEvent  # noqa
from peerings import services
from peerings.models import PeeringConnection, Resource
from tests.conftest import confirmed, provisioned

pytestmark = pytest.mark.django_db(transaction=True)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


def test_shots(live_server, owner, aws_deployment, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    p1 = provisioned(aws_deployment, "172.16.8.0/24")
    p2 = provisioned(aws_deployment, "172.16.9.0/24")
    Resource.objects.create(deployment=aws_deployment, peering=p1, name="orders-db", kind="mysql", host="172.16.8.10", port=3306)
    p3 = confirmed(aws_deployment, "172.16.10.0/24")
    PeeringConnection.objects.filter(pk=p3.pk).update(status="failed", status_reason="The deployment's network already sends 172.16.10.0/24 somewhere else, so traffic could not reach your VPC through this peering. Only our support team can fix this: ask support, and Retry is offered once they have.")
    PeeringConnection.objects.filter(pk=p1.pk).update(status="peer_deleted")
    p4 = confirmed(aws_deployment, "172.16.11.0/24")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for name, vp in (("desktop", {"width": 1400, "height": 900}), ("phone", {"width": 390, "height": 844})):
            page = b.new_page(viewport=vp)
            page.goto(f"{live_server.url}/login/")
            page.fill("#id_username", "olivia"); page.fill("#id_password", "pw-olivia"); page.click("button[type=submit]")
            page.goto(f"{live_server.url}/deployments/{aws_deployment.pk}/")
            page.wait_for_timeout(300)
            page.screenshot(path=f"/tmp/scratch/detail-{name}.png", full_page=True)
            page.click("#new-peering"); page.wait_for_timeout(500)
            page.screenshot(path=f"/tmp/scratch/dialog-{name}.png")
            print(name, page.evaluate("document.documentElement.scrollWidth"), page.evaluate("innerWidth"))
            page.close()
        b.close()
