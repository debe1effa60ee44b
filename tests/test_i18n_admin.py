"""The support admin, the webhook pages and the error pages in the reader's language: a
browser that asks for Chinese (Accept-Language: zh-hans) reads them in Chinese, with the
AWS console's names left in English; a browser that asks for nothing reads English."""

import re

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone, translation
from django.views import defaults

from core import login_guard
from peerings import admin_display, services, support_admin
from peerings.models import PeeringConnection, SupportRequest
from tests.support.factories import make_peering
from tests.support.webhooks import list_url, make_endpoint, new_url, url_of
from webhooks.models import WebhookAttempt, WebhookDelivery

pytestmark = pytest.mark.django_db

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
PEERINGS = "/admin/peerings/peeringconnection/"
QUEUE = "/admin/peerings/supportrequest/"
REASON = "AWS refused a step of the set-up (UnauthorizedOperation)."


def text_of(html):
    """The page's words, without its tags and with whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def failed_peering(deployment, n=1):
    return make_peering(
        deployment,
        "failed",
        n=n,
        status_reason_text=REASON,
        retryable=False,
        cidr=f"172.16.{n}.0/24",
    )


@pytest.fixture
def support_request(deployment, owner):
    return services.ask_support(failed_peering(deployment), user=owner, words="Please look.")


# --- the support admin ---


def test_the_support_queue_reads_in_chinese(client, support, support_request):
    client.force_login(support)
    page = client.get(QUEUE, **CHINESE).content.decode()
    assert '<html lang="zh-hans"' in page
    words = text_of(page)
    assert f"工单 #{support_request.pk}" in words
    assert "待处理" in words  # the open state's badge
    for header in ("状态", "已等待", "组织", "对等连接", "失败原因"):
        assert header in words
    assert "失败: " + REASON in words  # the failed status in Chinese; the stored reason as is


def test_the_support_queue_stays_english_by_default(client, support, support_request):
    client.force_login(support)
    page = client.get(QUEUE).content.decode()
    assert '<html lang="en"' in page
    assert f"Support request #{support_request.pk}" in page
    assert '<span class="status-badge support-open">open</span>' in page
    assert "工单" not in page


def test_a_support_request_page_reads_in_chinese(client, support, support_request):
    client.force_login(support)
    page = client.get(f"{QUEUE}{support_request.pk}/change/", **CHINESE).content.decode()
    words = text_of(page)
    for said in ("工单内容", "技术支持回复", "客户描述", "返回工单队列"):
        assert said in words
    assert f"<h2>工单 #{support_request.pk}</h2>" in page
    assert 'value="发送回复"' in page
    assert 'value="关闭工单"' in page
    assert "原因已修复：重新向客户提供“重试”" in words


def test_support_is_told_in_chinese_what_became_of_an_answer(client, support, support_request):
    client.force_login(support)
    change = f"{QUEUE}{support_request.pk}/change/"
    refused = client.post(change, {"answer": "   ", "_save": "1"}, **CHINESE)
    assert "请填写客户将看到的回复。" in refused.content.decode()
    client.post(change, {"answer": "Fixed on our side.", "_save": "1"}, **CHINESE)
    closed = client.post(change, {"_close": "1"}, follow=True, **CHINESE)
    assert f"工单 #{support_request.pk} 已关闭。" in text_of(closed.content.decode())
    assert SupportRequest.objects.get(pk=support_request.pk).state == SupportRequest.State.CLOSED


def test_a_peering_page_reads_in_chinese_with_aws_names_in_english(
    client, support, aws_deployment, owner
):
    peering = failed_peering(aws_deployment)  # never requested in the simulator
    services.ask_support(peering, user=owner, words="")
    client.force_login(support)
    words = text_of(client.get(f"{PEERINGS}{peering.pk}/change/", **CHINESE).content.decode())
    for said in ("AWS 实时状态", "工单", "审计记录", "操作者", "重新同步"):
        assert said in words
    assert "AWS 在 us-east-1 中找不到此 Peering Connection。" in words


def test_the_peering_list_shows_status_words_in_chinese(client, support, deployment):
    make_peering(deployment, "failed", n=1)
    make_peering(deployment, "peer_deleted", n=2)
    client.force_login(support)
    page = client.get(PEERINGS, **CHINESE).content.decode()
    assert '<span class="status-badge status-failed">失败</span>' in page
    assert '<span class="status-badge status-peer_deleted">对端已删除</span>' in page
    assert "从 AWS 重新同步" in page  # the action's name


def test_an_admin_action_reports_in_chinese(client, support, deployment):
    running = make_peering(deployment, "running", n=1)
    client.force_login(support)
    response = client.post(
        PEERINGS,
        {"action": "retry", "_selected_action": [running.pk]},
        follow=True,
        **CHINESE,
    )
    words = text_of(response.content.decode())
    assert (
        f"对等连接 {running.peering_id} 未重试：当前状态为 运行中，只有失败的对等连接才能重试。"
    ) in words


def test_every_status_and_state_has_a_badge_word():
    assert set(admin_display.STATUS_WORDS) == set(PeeringConnection.Status.values)
    assert set(support_admin.STATE_WORDS) == set(SupportRequest.State.values)


def test_a_webhook_delivery_reads_in_chinese_in_the_admin(client, support, organization):
    delivery = WebhookDelivery.objects.create(
        endpoint=make_endpoint(organization), event_type="peering.running", body="{}"
    )
    WebhookAttempt.objects.create(
        delivery=delivery, number=1, started_at=timezone.now(), duration_ms=5, outcome="retrying"
    )
    client.force_login(support)
    words = text_of(
        client.get(
            f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/", **CHINESE
        ).content.decode()
    )
    for said in ("Webhook 投递尝试", f"{delivery} 的第 1 次尝试", "失败，将重试", "待发送"):
        assert said in words


# --- the webhook pages ---


def test_the_webhook_pages_read_in_chinese(client, owner, organization):
    endpoint = make_endpoint(organization, description="orders")
    client.force_login(owner)
    listing = text_of(client.get(list_url(), **CHINESE).content.decode())
    for said in ("+ Webhook 端点", "描述", "最近投递", "已启用", "对等连接运行中"):
        assert said in listing
    detail = text_of(client.get(url_of("detail", endpoint), **CHINESE).content.decode())
    for said in ("签名密钥", "发送测试事件", "轮换密钥", "暂无投递记录。"):
        assert said in detail


def test_a_webhook_form_refuses_in_chinese(client, owner, organization):
    client.force_login(owner)
    response = client.post(new_url(organization), {"url": "http://hooks.example.com/"}, **CHINESE)
    page = response.content.decode()
    assert "Webhook URL 必须以 https:// 开头。" in page
    assert "请至少选择一个事件。" in page


def test_a_webhook_message_is_in_chinese(client, owner, organization, public_dns):
    endpoint = make_endpoint(organization)
    client.force_login(owner)
    edit = url_of("edit", endpoint)
    response = client.post(
        edit,
        {"url": endpoint.url, "event_types": ["peering.failed"], "enabled": "on"},
        follow=True,
        **CHINESE,
    )
    assert "Webhook 端点已保存。" in response.content.decode()


# --- the error pages ---


def test_a_missing_page_reads_in_chinese(client, owner):
    client.force_login(owner)
    response = client.get("/no-such-page/", **CHINESE)
    assert response.status_code == 404
    assert "页面不存在" in response.content.decode()


def test_a_refusal_reads_in_chinese(client, member, organization):
    client.force_login(member)
    response = client.get(new_url(organization), **CHINESE)
    assert response.status_code == 403
    words = text_of(response.content.decode())
    assert "您无权在此执行此操作" in words
    assert "只有组织的所有者可以管理其 Webhook。" in words


def test_a_bad_request_reads_in_chinese(client, support):
    client.force_login(support)
    response = client.post(PEERINGS, {"action": "retry", "_selected_action": ["x"]}, **CHINESE)
    assert response.status_code == 400
    page = response.content.decode()
    assert '<html lang="zh-hans">' in page
    assert "无法理解此请求" in page


@pytest.mark.parametrize(
    ("language", "said"),
    [("zh-hans", "我们这边出了问题"), ("en", "Something went wrong on our side")],
)
def test_the_server_error_page_is_in_the_active_language(language, said):
    # Rendered as Django renders it: no request context, maybe no database.
    with translation.override(language):
        response = defaults.server_error(RequestFactory().get("/"))
    page = response.content.decode()
    assert f'<html lang="{language}">' in page
    assert said in page


def test_the_csrf_refusal_is_our_page_and_reads_in_chinese(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(reverse("logout"), **CHINESE)
    assert response.status_code == 403
    page = response.content.decode()
    assert '<html lang="zh-hans">' in page
    assert "无法接受此表单" in page
    assert "portal.css" in page  # the console's look
    english = client.post(reverse("logout")).content.decode()
    assert "This form could not be accepted" in english
    assert "CSRF verification failed" not in english  # not Django's built-in page


def test_the_login_lockout_reads_in_chinese(client, owner, settings):
    settings.LOGIN_MAX_FAILURES = 2
    ip = "198.51.100.77"
    try:
        for _ in range(2):
            client.post(
                reverse("login"), {"username": "olivia", "password": "wrong"}, REMOTE_ADDR=ip
            )
        response = client.post(
            reverse("login"),
            {"username": "olivia", "password": "pw-olivia"},
            REMOTE_ADDR=ip,
            **CHINESE,
        )
        minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
        assert f"失败次数过多，请 {minutes} 分钟后再试。" in response.content.decode()
    finally:
        cache.delete_many([key for key, _limit in login_guard._keys("olivia", ip)])
