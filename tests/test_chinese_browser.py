"""The customer's journey in a browser that speaks Chinese: create → running → delete, all
in the seed's words, the status words in Chinese; the switcher by keyboard; and screenshots
of the deployment page and the create dialog on a desktop and on a phone, which must not
scroll sideways. The live server runs queued tasks inline against the moto server."""

import pytest

from demo import sandbox
from peerings.models import PeeringConnection
from tests.support.browser import ARTIFACTS, skip_without_chromium

skip_without_chromium()

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


def fits_the_width(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_create_running_delete_in_chinese(chinese_browser_page, live_server, owner, aws_deployment):
    page, base = chinese_browser_page, live_server.url
    page.goto(f"{base}/login/")
    expect(page.locator("h1")).to_have_text("登录")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "pw-olivia")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("部署")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")

    page.goto(f"{base}/deployments/{aws_deployment.pk}/")
    expect(page.locator("#peerings-heading")).to_have_text("VPC 对等连接")
    expect(page.locator("#notes-heading")).to_have_text("注意事项")
    expect(page.locator("#resources-heading")).to_have_text("资源")
    page.click("#new-peering")
    dialog = page.locator("#peering-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h2")).to_have_text("VPC 对等连接")
    expect(dialog).to_contain_text("部署所在区域")
    expect(dialog).to_contain_text("Create Peering Connection")
    expect(dialog).to_contain_text("Requester VPC owner")

    request = sandbox.create_customer_request(aws_deployment, cidr="172.16.8.0/24")
    page.fill("#id_peering_id", request.peering_id)
    page.fill("#id_account_id", request.account_id)
    page.fill("#id_vpc_id", request.vpc_id)
    confirm = page.locator("#peering-form button[type=submit]")
    expect(confirm).to_have_text("确认")
    confirm.click()
    expect(page.locator("#dialog")).not_to_be_visible()
    row = page.locator("tbody.peering", has_text=request.peering_id)
    expect(row).to_have_attribute("data-status", "running", timeout=60_000)
    expect(row.locator(".pill")).to_have_text("运行中")
    expect(row.locator("details.next-steps summary")).to_contain_text("在您的 AWS 账户中完成配置")

    row.locator("a", has_text="删除").click()
    delete = page.locator("#delete-dialog")
    expect(delete.locator("h2")).to_have_text("删除对等连接")
    page.click("#confirm-delete")
    expect(page.locator("[role=status]", has_text=f"正在删除 {request.peering_id}")).to_have_count(
        1
    )
    expect(page.locator("details.history summary")).to_have_text("已删除的对等连接（1）")
    assert PeeringConnection.objects.get(peering_id=request.peering_id).status == "deleted"


def test_the_pages_in_chinese_on_a_desktop_and_a_phone(
    chinese_browser_page, live_server, owner, aws_deployment
):
    page, base = chinese_browser_page, live_server.url
    page.goto(f"{base}/login/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "pw-olivia")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("部署")
    sandbox_request = sandbox.create_customer_request(aws_deployment, cidr="172.16.9.0/24")
    from tests.support.factories import make_resource, provisioned

    running = provisioned(aws_deployment, cidr="172.16.10.0/24")
    make_resource(running, "orders-db", host="172.16.10.20")
    url = f"{base}/deployments/{aws_deployment.pk}/"
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.goto(url)
        expect(page.locator("#language-switch")).to_be_visible()
        assert fits_the_width(page), f"the deployment page scrolls sideways on a {name}"
        page.screenshot(path=ARTIFACTS / f"zh-deployment-{name}.png", full_page=True)
        page.click("#new-peering")
        expect(page.locator("#peering-dialog")).to_be_visible()
        page.fill("#id_peering_id", sandbox_request.peering_id)
        assert fits_the_width(page), f"the create dialog scrolls sideways on a {name}"
        page.screenshot(path=ARTIFACTS / f"zh-create-dialog-{name}.png")
        page.keyboard.press("Escape")


def test_the_switcher_by_keyboard(chinese_browser_page, live_server, owner):
    page, base = chinese_browser_page, live_server.url
    page.goto(f"{base}/login/")
    expect(page.locator("h1")).to_have_text("登录")
    select = page.get_by_label("语言")
    select.focus()
    select.select_option("en")
    page.keyboard.press("Tab")
    expect(page.locator("#language-switch button")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Log in")
    expect(page.locator("html")).to_have_attribute("lang", "en")
