"""The audit page in a real browser (Debian's Chromium through Playwright): Back and Forward
bring the filters back in step with the URL and the table, a From after To is said next to
From as it is chosen, and the page reads on a desktop and on a phone."""

import re
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from core import audit
from peerings.models import PeeringConnection, Resource
from peerings.services.transitions import peering_snapshot
from tests.support.browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS, skip_without_chromium
from tests.support.factories import make_deployment

skip_without_chromium()

from playwright.sync_api import expect, sync_playwright  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def chromium(live_server, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the live server's ORM calls
    # happen in their own thread, this test's ORM calls are plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=LAUNCH_ARGS,
        )
        expect.set_options(timeout=20_000)  # a loaded 2-core box needs the margin
        yield browser
        browser.close()


@pytest.fixture
def history(owner, organization, monkeypatch):
    """A month of an organization's log: two deployments, each kind of change."""
    orders = make_deployment(organization, name="orders")
    billing = make_deployment(organization, name="billing-eu", vpc_id="vpc-0bbbbbbbbbbbbbbbb")
    olivia = audit.Actor(name="olivia", source="web", ip="198.51.100.9")
    support = audit.Actor(name="sam.engineer", source="admin", ip="10.9.8.7")

    def at(day, hour, action, **kwargs):
        when = datetime(2026, 11, day, hour, 5, 9, tzinfo=UTC)
        with monkeypatch.context() as patched:
            patched.setattr(timezone, "now", lambda: when)
            audit.record(action, actor=kwargs.pop("actor", olivia), **kwargs)

    peerings = {}
    for deployment, day in ((orders, 2), (billing, 9)):
        peering = peerings[deployment.name] = PeeringConnection.objects.create(
            deployment=deployment,
            peering_id=f"pcx-0{day:016x}",
            customer_account_id="210987654321",
            customer_vpc_id="vpc-0c0c0c0c0c0c0c0c0",
            customer_cidrs=["172.16.0.0/24", "172.16.1.0/24"],
        )
        at(day, 9, "peering.created", target=peering, after=peering_snapshot(peering))
        at(
            day,
            9,
            "peering.provisioning",
            target=peering,
            before={"status": "pending", "status_reason": ""},
            after={"status": "provisioning", "status_reason": ""},
            actor=audit.Actor(name="olivia", source="task"),
        )
    at(
        12,
        14,
        "peering.failed",
        target=peerings["billing-eu"],
        before={"status": "provisioning", "status_reason": ""},
        after={
            "status": "failed",
            "status_reason": "The request in AWS comes from VPC vpc-0abc, not vpc-0def that "
            "you entered.",
        },
    )
    at(
        13,
        8,
        "peering.retried",
        target=peerings["billing-eu"],
        before={"status": "failed", "status_reason": "AWS says the request expired."},
        after={"status": "pending", "status_reason": ""},
        actor=support,
    )
    at(
        14,
        10,
        "peering.running",
        target=peerings["orders"],
        before={"status": "provisioning", "status_reason": ""},
        after={"status": "running", "status_reason": ""},
    )
    PeeringConnection.objects.filter(pk=peerings["orders"].pk).update(status="running")
    database = Resource.objects.create(
        deployment=orders,
        peering=peerings["orders"],
        name="orders-db",
        kind="mysql",
        host="172.16.0.10",
        port=3306,
    )
    at(
        20,
        16,
        "resource.created",
        target=database,
        after={"name": "orders-db", "kind": "mysql", "host": "172.16.0.10", "port": 3306},
    )
    at(
        30,
        14,
        "webhook.created",
        organization=organization,
        after={"url": "https://hooks.example.com/…", "enabled": True, "events": ["peering.*"]},
    )
    return orders, billing


def open_audit_page(chromium, live_server, viewport=DESKTOP):
    page = chromium.new_context(viewport=viewport).new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "pw-olivia")
    page.click("main button[type=submit]")  # not the header's language switcher
    expect(page.locator("h1")).to_have_text("Deployments")
    page.goto(f"{live_server.url}/audit/")
    expect(page.locator("h1")).to_have_text("Audit log")
    return page


def shown_actions(page):
    return set(page.locator(".audit-row").evaluate_all("rows => rows.map(r => r.dataset.action)"))


def expect_filters(page, *, action="", since="", deployment=""):
    expect(page.locator("#id_action")).to_have_value(action)
    expect(page.locator("#id_since")).to_have_value(since)
    expect(page.locator("#id_deployment")).to_have_value(deployment)


def test_it_shows_the_filters_of_the_url_again_after_back_and_forward(
    chromium, live_server, history
):
    page = open_audit_page(chromium, live_server)
    page.select_option("#id_action", "peering.created")
    expect(page).to_have_url(re.compile(r"action=peering.created"))
    expect(page.locator(".audit-row")).to_have_count(2)
    page.fill("#id_since", "2026-11-05")
    expect(page).to_have_url(re.compile(r"since=2026-11-05"))
    expect(page.locator(".audit-row")).to_have_count(1)
    page.select_option("#id_action", "peering.provisioning")
    expect(page).to_have_url(re.compile(r"action=peering.provisioning"))
    expect(page.locator(".audit-row")).to_have_count(1)

    page.go_back()
    expect(page).to_have_url(re.compile(r"action=peering.created&since=2026-11-05&until=$"))
    expect_filters(page, action="peering.created", since="2026-11-05")
    expect(page.locator(".audit-row")).to_have_count(1)
    assert shown_actions(page) == {"peering.created"}

    page.go_back()
    expect(page).to_have_url(
        re.compile(r"/audit/\?deployment=&actor=&action=peering.created&since=&until=$")
    )
    expect_filters(page, action="peering.created")
    expect(page.locator(".audit-row")).to_have_count(2)

    page.go_back()
    expect(page).to_have_url(re.compile(r"/audit/$"))
    expect_filters(page)
    expect(page.locator(".audit-row")).to_have_count(9)

    page.go_forward()
    expect(page).to_have_url(re.compile(r"action=peering.created&since=&until=$"))
    expect_filters(page, action="peering.created")
    expect(page.locator(".audit-row")).to_have_count(2)


def test_it_rebuilds_the_whole_page_after_back_when_htmx_has_not_kept_it(
    chromium, live_server, history
):
    orders, _billing = history
    page = open_audit_page(chromium, live_server)
    page.select_option("#id_deployment", str(orders.pk))
    expect(page).to_have_url(re.compile(rf"deployment={orders.pk}"))
    page.select_option("#id_action", "peering.running")
    expect(page).to_have_url(re.compile(r"action=peering.running"))
    # htmx's history cache, gone: as when it held too many pages, or storage was full.
    page.evaluate("sessionStorage.removeItem('htmx-history-cache')")

    page.go_back()
    expect(page).to_have_url(re.compile(rf"deployment={orders.pk}&actor=&action=&"))
    expect(page.locator("#audit-filters")).to_have_count(1)
    expect(page.locator("header")).to_have_count(1)
    expect(page.locator("h1")).to_have_text("Audit log")
    expect_filters(page, deployment=str(orders.pk))
    expect(page.locator(".audit-row")).to_have_count(4)
    expect(page.locator(".audit-row .audit-deployment")).to_have_text(["orders"] * 4)


def test_it_says_next_to_from_when_from_is_after_to(chromium, live_server, history):
    page = open_audit_page(chromium, live_server)
    page.fill("#id_until", "2026-11-10")
    expect(page).to_have_url(re.compile(r"until=2026-11-10"))
    page.fill("#id_since", "2026-11-20")
    expect(page).to_have_url(re.compile(r"since=2026-11-20"))
    error = page.locator("#id_since + .field-errors")
    expect(error).to_have_text("From must be on or before To.")
    expect(error).to_be_visible()
    expect(page.locator("#id_until")).to_have_value("2026-11-10")  # kept as typed
    page.fill("#id_until", "2026-11-30")
    expect(page).to_have_url(re.compile(r"until=2026-11-30"))
    expect(error).to_be_hidden()
    expect(page.locator(".audit-row")).to_have_count(2)


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_it_reads_well_on_a_desktop_and_on_a_phone(chromium, live_server, history, name, viewport):
    page = open_audit_page(chromium, live_server, viewport)
    expect(page.locator(".audit-row")).to_have_count(9)
    page.screenshot(path=ARTIFACTS / f"audit-{name}.png", full_page=True)
    # Each time on one line: an inline element has one box per line it takes.
    lines = page.locator(".audit-row time").evaluate_all(
        "times => times.map(t => t.getClientRects().length)"
    )
    assert lines == [1] * 9
    first = page.locator(".audit-row").first
    expect(first.locator("time")).to_have_text("2026-11-30 14:05:09 UTC")
    expect(first.locator(".audit-action")).to_have_text("Webhook created")
    expect(first.locator(".audit-deployment")).to_have_text("—")
    # The page's content never runs off the screen; a table wider than the screen scrolls
    # in its own box.
    overflow = page.evaluate(
        """() => ({
            main: document.querySelector('main').scrollWidth
                - document.querySelector('main').clientWidth,
            box: document.querySelector('.table-scroll').getBoundingClientRect().right,
            table: document.querySelector('#audit-table').scrollWidth,
            boxWidth: document.querySelector('.table-scroll').clientWidth,
        })"""
    )
    assert overflow["main"] <= 0, overflow
    assert overflow["box"] <= viewport["width"], overflow
    if name == "phone":
        assert overflow["table"] > overflow["boxWidth"], overflow
    else:
        assert overflow["table"] <= overflow["boxWidth"], overflow  # no scrolling needed
