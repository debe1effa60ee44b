"""The customer's way out of an ended peering, in a real browser and by keyboard: a peering
deleted in the customer's AWS account, its resource moved to another running peering with
Move, then the old peering deleted; and a refused dialog walked with the keyboard alone.
The live server runs queued tasks inline against the moto server."""

import pytest

from peerings.models import PeeringConnection
from tests.support.browser import ARTIFACTS, skip_without_chromium
from tests.support.factories import make_resource, provisioned

skip_without_chromium()

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, base):
    page.goto(f"{base}/login/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "pw-olivia")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Deployments")


def test_move_then_delete_by_keyboard(browser_page, live_server, owner, aws_deployment):
    page, base = browser_page, live_server.url
    ended = provisioned(aws_deployment, cidr="172.16.8.0/24")
    replacement = provisioned(aws_deployment, cidr="172.16.9.0/24")
    resource = make_resource(ended, "orders-db", host="db.internal")
    # What reconcile records when the customer deletes the connection on their side.
    PeeringConnection.objects.filter(pk=ended.pk).update(status="peer_deleted")

    log_in(page, base)
    page.goto(f"{base}/deployments/{aws_deployment.pk}/")
    old_row = page.locator(f"#peering-{ended.pk}")
    expect(old_row).to_contain_text("deleted in AWS")
    expect(old_row).to_contain_text("move them to another running peering")
    page.screenshot(path=ARTIFACTS / "journey-peer-deleted.png", full_page=True)

    page.locator(f"#resource-{resource.pk} a", has_text="Move").focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#move-dialog")
    expect(dialog).to_be_visible()
    page.select_option("#id_peering", str(replacement.pk))
    page.locator("#move-form button[type=submit]").focus()
    page.keyboard.press("Enter")
    # Said in a status region (#flash, or the messages after a reload without htmx).
    said = f"orders-db now reaches your VPC through {replacement.peering_id}"
    expect(page.locator("[role=status]", has_text=said)).to_have_count(1)
    expect(page.locator(f"#resource-{resource.pk}")).to_contain_text(replacement.peering_id)
    page.screenshot(path=ARTIFACTS / "journey-moved.png", full_page=True)

    page.locator(f"#peering-{ended.pk} a", has_text="Delete").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#delete-dialog")).to_be_visible()
    expect(page.locator("#delete-refusal")).to_have_count(0)  # nothing bound any more
    page.locator("#confirm-delete").focus()
    page.keyboard.press("Enter")
    said = f"Deleting {ended.peering_id}"
    expect(page.locator("[role=status]", has_text=said)).to_have_count(1)
    # The worker ran (inline here): the peering left the list for the history.
    expect(page.locator(f"#peering-{ended.pk}")).to_have_count(0)
    expect(page.locator("details.history summary")).to_have_text("Deleted peerings (1)")
    ended.refresh_from_db()
    assert ended.status == "deleted"


def test_a_refused_dialog_by_keyboard(browser_page, live_server, owner, aws_deployment):
    page, base = browser_page, live_server.url
    log_in(page, base)
    page.goto(f"{base}/deployments/{aws_deployment.pk}/")
    page.locator("#new-peering").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#peering-dialog")).to_be_visible()
    page.locator("#id_peering_id").focus()
    page.keyboard.type("pcx-0123456789abcdef0")
    page.keyboard.press("Tab")
    page.keyboard.type("210987654321")
    page.keyboard.press("Tab")
    page.keyboard.type("vpc-0123456789abcdef0")
    page.keyboard.press("Enter")
    errors = page.locator("#errors-peering_id")
    expect(errors).to_contain_text("No VPC peering connection pcx-0123456789abcdef0 exists")
    field = page.locator("#id_peering_id")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    expect(field).to_have_attribute("aria-describedby", "errors-peering_id")
    # Confirm stays in reach, and Escape leaves the dialog.
    expect(page.locator("#peering-form button[type=submit]")).to_be_in_viewport()
    page.screenshot(path=ARTIFACTS / "journey-refused-by-keyboard.png")
    page.keyboard.press("Escape")
    expect(page.locator("#peering-dialog")).not_to_be_visible()
    assert not PeeringConnection.objects.exists()
