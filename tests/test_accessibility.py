"""Every page a customer sees, in headless Chromium, at a desktop size and at a phone's
(390×844): axe-core finds nothing serious or critical, and nothing is wider than the screen.
Each page's screenshots land in test-artifacts/<page>-{desktop,phone}.png to look at."""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from peerings.models import Resource
from tests.conftest import provisioned
from tests.support import axe

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

if not shutil.which(CHROMIUM):
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing; .ci/run installs it with apt-get")
    pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)", allow_module_level=True)

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
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
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
    return {"owner": owner, "deployment": aws_deployment, "peering": peering}


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
    expect(page.locator("#peering-table .peering-row")).to_have_attribute(
        "data-status", "running"
    )


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


PAGES = {
    "login": lambda page, base, world: page.goto(f"{base}/login/"),
    "deployments": lambda page, base, world: page.goto(f"{base}/deployments/"),
    "deployment": deployment_page,
    "new-peering-dialog": new_peering_dialog,
    "refused-confirm-dialog": refused_confirm,
    "delete-dialog": delete_dialog,
    "resource-dialog": resource_dialog,
    "webhooks": lambda page, base, world: page.goto(f"{base}/webhooks/"),
    "webhook-form": lambda page, base, world: page.goto(
        f"{base}/organizations/{world['deployment'].organization_id}/webhooks/new/"
    ),
    "audit": lambda page, base, world: page.goto(f"{base}/audit/"),
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
