"""A support request in a real browser: the customer asks about a failure only the vendor
can fix, support (landing on /admin/) answers it from the queue marking the cause fixed,
the peering's admin page shows it all, and the customer's Retry takes the peering to
running. Screenshots at 1400x900 go to test-artifacts/."""

import pytest
from django.utils import timezone

from demo import sandbox, world
from peerings.models import Deployment, PeeringConnection, SupportRequest
from tests.support.browser import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect


def log_in(page, base, username, password):
    page.context.clear_cookies()
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")  # not the header's language switcher


def fits(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_customer_asks_support_and_support_answers_from_the_admin(
    simulator,
    live_server,
    browser_page,  # noqa: F811
):
    page, base = browser_page, live_server.url
    page.set_viewport_size({"width": 1400, "height": 900})
    world.seed()
    deployment = Deployment.objects.get(name="orders-us-east")
    made = sandbox.create_customer_request(deployment, cidr="172.16.8.0/24")
    peering = PeeringConnection.objects.create(
        deployment=deployment,
        peering_id=made.peering_id,
        customer_account_id=made.account_id,
        customer_vpc_id=made.vpc_id,
        customer_cidrs=[made.cidr],
        status="failed",
        status_reason_code="aws_rejected",
        retryable=False,
        status_changed_at=timezone.now(),
    )

    # 1. The customer: no Retry, but Ask support; the dialog; the row says it is open.
    log_in(page, base, "demo", "demo")
    expect(page.locator("h1")).to_have_text("Deployments")
    page.click("text=orders-us-east")
    row = page.locator(f"#peering-{peering.pk}")
    expect(row.locator("button", has_text="Retry")).to_have_count(0)
    row.get_by_role("link", name="Ask support").click()
    expect(page.locator("#support-dialog")).to_contain_text("AWS refused a step of the set-up.")
    page.fill("#id_words", "We changed nothing on our side since last week.")
    page.screenshot(path=ARTIFACTS / "support-dialog.png")
    page.click("#confirm-support")
    expect(page.locator("#dialog")).not_to_be_visible()
    expect(row).to_contain_text("· open")
    expect(row.get_by_role("link", name="Ask support")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "support-asked-row.png")

    # 2. Support lands on the admin, finds the request first in the queue, answers it.
    log_in(page, base, "support", "support")
    expect(page).to_have_url(f"{base}/admin/")
    page.goto(f"{base}/admin/peerings/supportrequest/")
    first = page.locator("#result_list tbody tr").first
    expect(first).to_contain_text("open")
    expect(first).to_contain_text("Demo Org")
    assert fits(page)
    page.screenshot(path=ARTIFACTS / "support-queue.png")
    first.locator("th a").click()
    page.fill("#id_answer", "Our role lacked ec2:CreateRoute in us-east-1; it has it now.")
    page.check("#id_cause_fixed")
    page.screenshot(path=ARTIFACTS / "support-request-page.png", full_page=True)
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("Retry is offered again")
    assert SupportRequest.objects.get().state == "answered"

    # 3. The peering list: status first, as a badge, fitting the screen.
    page.goto(f"{base}/admin/peerings/peeringconnection/")
    headers = page.locator("#result_list thead th").all_inner_texts()
    assert headers[1].strip().lower() == "status", headers  # after the select-all box
    expect(page.locator("#result_list .status-badge.status-failed")).to_have_count(1)
    assert fits(page)
    page.screenshot(path=ARTIFACTS / "admin-peering-list.png")

    # 4. The peering's page: buttons, the live AWS state, its support request, its trail.
    page.click(f"text={peering.peering_id}")
    expect(page.locator("#peering-retry")).to_be_visible()
    expect(page.locator("#peering-resync")).to_be_visible()
    expect(page.locator("#aws-state")).to_contain_text("pending-acceptance")
    expect(page.locator("#support-requests")).to_contain_text("cause fixed")
    expect(page.locator("#audit-trail")).to_contain_text("support.answered")
    page.screenshot(path=ARTIFACTS / "admin-peering-page.png", full_page=True)

    # 5. The customer reads the answer and retries: the queue runs inline here.
    log_in(page, base, "demo", "demo")
    page.click("text=orders-us-east")
    expect(row).to_contain_text("Support answered: Our role lacked ec2:CreateRoute")
    page.screenshot(path=ARTIFACTS / "support-answered-row.png")
    row.locator("button", has_text="Retry").click()
    expect(row).to_have_attribute("data-status", "running", timeout=60_000)

    # 6. Support retries nothing more: the page says what Re-sync found.
    log_in(page, base, "support", "support")
    page.goto(f"{base}/admin/peerings/peeringconnection/{peering.pk}/change/")
    expect(page.locator("#aws-state")).to_contain_text("active")
    page.click("#peering-resync")
    expect(page.locator(".messagelist")).to_contain_text("Re-synced 1 peering; it matches AWS.")
    page.screenshot(path=ARTIFACTS / "admin-peering-resynced.png", full_page=True)
