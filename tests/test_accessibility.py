"""Every page a customer sees, in headless Chromium, at a desktop size and at a phone's
(390×844): axe-core finds nothing serious or critical, and nothing is wider than the screen.
Each page's screenshots land in test-artifacts/<page>-{desktop,phone}.png to look at."""

import functools
import json
import time

import pytest
from django.conf import settings
from django.test import Client

from peerings.models import Resource
from tests.support import axe
from tests.support.api import make_key
from tests.support.browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS, skip_without_chromium
from tests.support.factories import make_peering, provisioned
from webhooks.models import WebhookEndpoint

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

skip_without_chromium()

from playwright.sync_api import expect, sync_playwright  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def chromium():
    axe.require_axe()
    # Playwright's sync API keeps an event loop running in this thread for the module's
    # tests, and Django would take every ORM call here (setup, teardown) for async code.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=LAUNCH_ARGS,
        )
        yield browser
        browser.close()


@pytest.fixture
def world(owner, aws_deployment):
    """The owner's deployment with a running peering and a resource bound to it."""
    peering = provisioned(aws_deployment)
    Resource.objects.create(
        deployment=aws_deployment,
        peering=peering,
        name="orders-db",
        kind=Resource.Kind.MYSQL,
        host="172.16.8.20",
        port=3306,
    )
    endpoint = WebhookEndpoint.objects.create(
        organization=aws_deployment.organization,
        url="https://hooks.example.com/peering",
        event_types=["peering.running"],
        secret="whsec_made-up-for-the-page",
    )
    make_key(aws_deployment.organization, owner, name="terraform")
    return {"owner": owner, "deployment": aws_deployment, "peering": peering, "endpoint": endpoint}


@pytest.fixture
def open_page(chromium, live_server, world):
    """open_page(viewport, logged_in=True): a fresh page at that size, the owner logged in."""
    ARTIFACTS.mkdir(exist_ok=True)
    contexts = []

    def open_page(viewport, logged_in=True):
        context = chromium.new_context(viewport=VIEWPORTS[viewport])
        contexts.append(context)
        if logged_in:
            client = Client()
            client.force_login(world["owner"])
            cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
            )
        page = context.new_page()
        page.set_default_timeout(20_000)
        expect.set_options(timeout=20_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def deployment_page(page, base, world):
    page.goto(f"{base}/deployments/{world['deployment'].pk}/")
    expect(page.locator("#peering-table .peering-row")).to_have_attribute("data-status", "running")


def new_peering_dialog(page, base, world):
    deployment_page(page, base, world)
    page.click("#new-peering")
    expect(page.locator("#peering-dialog")).to_be_visible()


def refused_confirm(page, base, world):
    new_peering_dialog(page, base, world)
    page.fill("#id_peering_id", "pcx-0123456789abcdef0")
    page.fill("#id_account_id", "210987654321")
    page.fill("#id_vpc_id", "vpc-0123456789abcdef0")
    page.click("#peering-form button[type=submit]")
    expect(page.locator("#peering-dialog .errorlist").first).to_be_visible()


def delete_dialog(page, base, world):
    deployment_page(page, base, world)
    page.locator("#peering-table .peering-row").get_by_text("Delete").click()
    expect(page.locator("#delete-dialog")).to_be_visible()


def resource_dialog(page, base, world):
    deployment_page(page, base, world)
    page.click("#new-resource")
    expect(page.locator("#resource-dialog")).to_be_visible()


def move_dialog(page, base, world):
    # A second running peering the bound resource may move to.
    make_peering(world["deployment"], "running", n=99, cidr="172.16.0.0/16")
    resource = world["deployment"].resources.get()
    page.goto(f"{base}/deployments/{world['deployment'].pk}/")
    page.locator(f"#resource-{resource.pk}").get_by_text("Move").click()
    expect(page.locator("#move-dialog")).to_be_visible()


def support_dialog(page, base, world):
    failed = make_peering(world["deployment"], "failed", n=98, status_reason_code="aws_rejected")
    page.goto(f"{base}/deployments/{world['deployment'].pk}/")
    page.locator(f"#peering-{failed.pk}").get_by_role("link", name="Ask support").click()
    expect(page.locator("#support-dialog")).to_be_visible()


PAGES = {
    "login": lambda page, base, world: page.goto(f"{base}/login/"),
    "deployments": lambda page, base, world: page.goto(f"{base}/deployments/"),
    "deployment": deployment_page,
    "new-peering-dialog": new_peering_dialog,
    "refused-confirm-dialog": refused_confirm,
    "delete-dialog": delete_dialog,
    "resource-dialog": resource_dialog,
    "move-dialog": move_dialog,
    "support-dialog": support_dialog,
    "webhooks": lambda page, base, world: page.goto(f"{base}/webhooks/"),
    "webhook-endpoint": lambda page, base, world: page.goto(
        f"{base}/webhooks/{world['endpoint'].pk}/"
    ),
    "webhook-form": lambda page, base, world: page.goto(
        f"{base}/organizations/{world['deployment'].organization_id}/webhooks/new/"
    ),
    "audit": lambda page, base, world: page.goto(f"{base}/audit/"),
    "api-keys": lambda page, base, world: page.goto(f"{base}/api-keys/"),
    "api-key-form": lambda page, base, world: page.goto(
        f"{base}/organizations/{world['deployment'].organization_id}/api-keys/new/"
    ),
    "api-docs": lambda page, base, world: page.goto(f"{base}/api/v1/docs/"),
    "not-found": lambda page, base, world: page.goto(f"{base}/no-such-page/"),
}


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("name", PAGES)
def test_it_has_no_serious_accessibility_problem_and_fits_the_screen(
    open_page, live_server, world, name, viewport
):
    page = open_page(viewport, logged_in=name != "login")
    PAGES[name](page, live_server.url, world)
    # An open dialog covers the screen: the rest of a long page would only show the page.
    dialog_open = page.locator("#dialog[open]").count() > 0
    page.screenshot(path=ARTIFACTS / f"{name}-{viewport}.png", full_page=not dialog_open)

    found = axe.violations(page)
    assert not found, axe.describe(found)
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{name} is {width[0]}px wide in a {width[1]}px {viewport}"


# --- the shell's behaviour: keyboard, focus, announcements ---


def focused(page):
    return page.evaluate(
        "(() => { const e = document.activeElement;"
        " return {id: e.id, label: e.getAttribute('aria-label'), text: e.textContent.trim(),"
        " inDialog: !!e.closest('#dialog')}; })()"
    )


def test_the_skip_link_is_the_first_stop_and_lands_in_main(open_page, live_server, world):
    page = open_page("desktop")
    page.goto(f"{live_server.url}/deployments/")
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Skip to content"
    box = page.locator(".skip-link").bounding_box()
    assert box["y"] >= 0 and box["height"] > 0  # on screen once focused
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()


def test_the_dialog_opens_by_keyboard_is_named_and_gives_the_focus_back(
    open_page, live_server, world
):
    page = open_page("desktop")
    deployment_page(page, live_server.url, world)
    page.focus("#new-peering")
    page.keyboard.press("Enter")
    expect(page.locator("#peering-dialog")).to_be_visible()
    expect(page.get_by_role("dialog", name="VPC Peering Connection")).to_be_visible()
    expect(page.locator("#dialog :focus")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("#dialog")).not_to_be_visible()
    expect(page.locator("#new-peering")).to_be_focused()

    # Opened by a click that does not focus what it clicks (Safari's way with links and
    # buttons): the focus still goes back to the opener, not to the top of the page.
    page.locator("#new-peering").evaluate("link => { link.blur(); link.click(); }")
    expect(page.locator("#peering-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#dialog")).not_to_be_visible()
    expect(page.locator("#new-peering")).to_be_focused()

    # The close button, by keyboard: it comes just before the dialog's heading.
    page.keyboard.press("Enter")
    expect(page.locator("#peering-dialog")).to_be_visible()
    expect(page.get_by_role("button", name="Close")).to_be_visible()
    page.keyboard.press("Shift+Tab")
    assert focused(page)["label"] == "Close"
    page.keyboard.press("Enter")
    expect(page.locator("#dialog")).not_to_be_visible()
    expect(page.locator("#new-peering")).to_be_focused()


def test_after_a_confirm_the_focus_goes_to_the_redrawn_button(open_page, live_server, world):
    from demo import sandbox

    request = sandbox.create_customer_request(world["deployment"], cidr="172.16.9.0/24")
    page = open_page("desktop")
    new_peering_dialog(page, live_server.url, world)
    page.fill("#id_peering_id", request.peering_id)
    page.fill("#id_account_id", request.account_id)
    page.fill("#id_vpc_id", request.vpc_id)
    page.click("#peering-form button[type=submit]")
    expect(page.locator("#dialog")).not_to_be_visible()
    expect(page.locator(".peering-row", has_text=request.peering_id)).to_be_visible()
    # The tables were redrawn: the button that opened the dialog is a new element now.
    expect(page.locator("#new-peering")).to_be_focused()


def test_a_refused_confirm_puts_the_focus_on_the_first_field_in_error(
    open_page, live_server, world
):
    page = open_page("desktop")
    refused_confirm(page, live_server.url, world)
    first_invalid = page.locator('#dialog [aria-invalid="true"]').first
    expect(first_invalid).to_be_focused()
    assert first_invalid.evaluate("e => getComputedStyle(e).borderColor") == "rgb(180, 35, 24)"
    # The refusal is also read out (the page around a modal dialog is inert: its own region).
    expect(page.locator("#dialog-live")).not_to_be_empty()


def test_a_dialog_form_says_it_is_busy_while_its_request_runs(
    open_page, live_server, world, monkeypatch
):
    from peerings import services

    real_check = services.check_new_peering

    def slow_check(*args, **kwargs):
        time.sleep(1.5)
        return real_check(*args, **kwargs)

    # The live server runs in this process: its view finds the slow check.
    monkeypatch.setattr(services, "check_new_peering", slow_check)
    page = open_page("desktop")
    new_peering_dialog(page, live_server.url, world)
    confirm_button = page.locator("#peering-form button[type=submit]")
    confirm_button.evaluate("b => b.dataset.busyLabel = 'Checking with AWS…'")
    page.fill("#id_peering_id", "pcx-0123456789abcdef0")
    page.fill("#id_account_id", "210987654321")
    page.fill("#id_vpc_id", "vpc-0123456789abcdef0")
    confirm_button.click()
    expect(confirm_button).to_have_text("Checking with AWS…")
    expect(confirm_button).to_be_disabled()
    expect(page.locator("#dialog-live")).to_have_text("Checking with AWS…")
    expect(page.locator("#peering-dialog .errorlist").first).to_be_visible()
    expect(page.locator("#peering-form button[type=submit]")).to_have_text("Confirm")
    expect(page.locator("#peering-form button[type=submit]")).to_be_enabled()


def test_on_a_phone_the_dialog_is_the_screen_and_confirm_stays_in_reach(
    open_page, live_server, world
):
    page = open_page("phone")
    new_peering_dialog(page, live_server.url, world)
    box = page.locator("#dialog").bounding_box()
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)
    page.locator("#dialog").evaluate("d => d.scrollTop = 0")
    confirm_button = page.locator("#peering-form button[type=submit]")
    button = confirm_button.bounding_box()
    assert button["y"] + button["height"] <= 844
    at_its_centre = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).textContent.trim()",
        [button["x"] + button["width"] / 2, button["y"] + button["height"] / 2],
    )
    assert at_its_centre == "Confirm"


def fulfil(route, request, headers):
    route.fulfill(status=200, headers=headers, body="")


def test_responses_can_announce_and_show_messages(open_page, live_server, world):
    page = open_page("desktop")
    page.goto(f"{live_server.url}/deployments/")
    triggers = {
        "/announce": {"announce": "Peering pcx-0123 is running."},
        "/message": {"showMessage": {"message": "Test event queued.", "level": "success"}},
    }
    for url, trigger in triggers.items():
        headers = {"HX-Trigger": json.dumps(trigger)}
        page.route(f"**{url}", functools.partial(fulfil, headers=headers))
    page.evaluate("() => { htmx.ajax('GET', '/announce', {swap: 'none'}); }")
    expect(page.locator("#live")).to_have_text("Peering pcx-0123 is running.")
    page.evaluate("() => { htmx.ajax('GET', '/message', {swap: 'none'}); }")
    expect(page.locator(".toast.success")).to_have_text("Test event queued.")
    expect(page.locator("#live")).to_have_text("Test event queued.")
