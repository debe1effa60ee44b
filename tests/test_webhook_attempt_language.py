"""Why a webhook attempt failed is stored as a code with parameters (core/reasons.py) and
said in the language of whoever reads it: the endpoint's owner on the webhook page, support
in the admin. Attempts made before the codes keep their English sentence; the event a
receiver gets, and our logs, stay as they were."""

import logging

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone, translation

from tests.support.webhooks import (
    closed_port,
    fake_dns,
    make_endpoint,
    resend_url,
    send_test,
    url_of,
)
from webhooks import services
from webhooks.models import WebhookAttempt, WebhookDelivery

pytestmark = pytest.mark.django_db

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
BEFORE_THE_CODES = "HTTP 503 from the endpoint (an attempt made before the codes)."


def reasons_on(page):
    """The attempts' errors as the delivery page shows them."""
    return [part.split("</p>", 1)[0].strip() for part in page.split('<p class="reason">')[1:]]


@pytest.fixture
def failed_attempts(
    receiver, local_network, organization, owner, settings, django_capture_on_commit_callbacks
):
    """A timed-out and a refused (503) attempt to one endpoint, and one to a closed port
    (the connection refused) of another."""
    settings.WEBHOOK_TIMEOUT = 0.2
    receiver.answers = ["hang", (503, {}, b"down for maintenance")]
    endpoint = make_endpoint(organization, receiver.url)
    timed_out = send_test(endpoint, django_capture_on_commit_callbacks)
    refused = send_test(endpoint, django_capture_on_commit_callbacks)
    receiver.release.set()
    with closed_port() as port:
        closed = make_endpoint(organization, f"http://127.0.0.1:{port}/hooks")
        unreachable = send_test(closed, django_capture_on_commit_callbacks)
    return endpoint, closed, timed_out, refused, unreachable


def test_a_failed_attempt_is_stored_as_a_code_not_a_sentence(failed_attempts):
    _endpoint, _closed, timed_out, refused, unreachable = failed_attempts
    stored = [
        (a.error_code, a.error_params, a.error_text) for a in WebhookAttempt.objects.order_by("pk")
    ]
    assert stored[0] == ("webhook_no_answer", {"seconds": 0.2, "exception": "ReadTimeout"}, "")
    assert stored[1] == (
        "webhook_refused_saying",
        {
            "status_code": 503,
            "reason_phrase": "Service Unavailable",
            "excerpt": "down for maintenance",
        },
        "",
    )
    assert stored[2][0] == "webhook_network_error" and stored[2][2] == ""
    assert [d.attempts.get().outcome for d in (timed_out, refused, unreachable)] == ["retrying"] * 3


def test_the_delivery_page_says_why_attempts_failed_in_chinese(client, owner, failed_attempts):
    endpoint, closed, *_ = failed_attempts
    client.force_login(owner)
    page = client.get(url_of("detail", endpoint), **CHINESE).content.decode()
    assert '<html lang="zh-hans"' in page.lower()
    # Newest delivery first: the 503, then the time-out.
    assert reasons_on(page) == [
        "端点返回了 503 Service Unavailable。其响应内容：down for maintenance",
        "0.2 秒内没有响应（ReadTimeout）。",
    ]
    (network,) = reasons_on(client.get(url_of("detail", closed), **CHINESE).content.decode())
    assert network.startswith("网络错误：") and network.endswith("。")


def test_the_delivery_page_says_it_in_english_by_default(client, owner, failed_attempts):
    endpoint, closed, *_ = failed_attempts
    client.force_login(owner)
    page = client.get(url_of("detail", endpoint)).content.decode()
    assert '<html lang="en"' in page
    assert reasons_on(page) == [
        "The endpoint answered 503 Service Unavailable. It said: down for maintenance",
        "No answer within 0.2 s (ReadTimeout).",
    ]
    (network,) = reasons_on(client.get(url_of("detail", closed)).content.decode())
    assert network.startswith("Network error: ")


def test_an_attempt_from_before_the_codes_keeps_its_english(client, owner, organization):
    endpoint = make_endpoint(organization)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}", status="failed"
    )
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=timezone.now(),
        duration_ms=12,
        status_code=503,
        error_text=BEFORE_THE_CODES,
        outcome="failed",
    )
    client.force_login(owner)
    page = client.get(url_of("detail", endpoint), **CHINESE).content.decode()
    assert reasons_on(page) == [BEFORE_THE_CODES]


def test_support_reads_an_attempts_error_in_their_own_language(client, support, failed_attempts):
    *_, refused, _unreachable = failed_attempts
    client.force_login(support)
    admin_page = f"/admin/webhooks/webhookdelivery/{refused.pk}/change/"
    chinese = client.get(admin_page, **CHINESE).content.decode()
    assert "端点返回了 503 Service Unavailable。其响应内容：down for maintenance" in chinese
    english = client.get(admin_page).content.decode()
    assert "The endpoint answered 503 Service Unavailable. It said: down for maintenance" in (
        english
    )
    assert "webhook_refused_saying" not in chinese + english


def test_a_url_refused_when_sending_reads_in_chinese_all_the_way_down(
    receiver, organization, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The refusal is a reason inside a reason (why it was not sent, and what kind of
    address it was): each part is said in the reader's language."""
    settings.WEBHOOK_ALLOW_HTTP = True
    endpoint = make_endpoint(organization, f"http://hooks.example.test:{receiver.port}/hooks")
    fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    attempt = send_test(endpoint, django_capture_on_commit_callbacks).attempts.get()
    assert (attempt.error_code, attempt.error_params) == (
        "webhook_not_sent",
        {
            "why": {
                "code": "host_not_public",
                "params": {
                    "host": "hooks.example.test",
                    "address": "127.0.0.1",
                    "problem": {"code": "address_loopback", "params": {}},
                },
            }
        },
    )
    with translation.override("zh-hans"):
        assert attempt.error == (
            "未发送：hooks.example.test 解析到 127.0.0.1，这是环回地址。"
            "Webhook 只会发送到公网地址。"
        )
    assert attempt.error == (
        "Not sent: hooks.example.test resolves to 127.0.0.1, a loopback address. Webhooks "
        "are only sent to public internet addresses."
    )


def test_a_resend_refusal_reads_in_chinese(client, owner, organization):
    endpoint = make_endpoint(organization, enabled=False)
    failed = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}", status="failed"
    )
    client.force_login(owner)
    page = client.post(resend_url(failed), HTTP_HX_REQUEST="true", **CHINESE).content.decode()
    assert "请先启用该端点：已停用的端点不会收到任何事件。" in page
    services.update_endpoint(endpoint, enabled=True)
    succeeded = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}", status="succeeded"
    )
    page = client.post(resend_url(succeeded), follow=True, **CHINESE).content.decode()
    assert "只有失败或已取消的投递才能重新发送。" in page


def test_the_log_says_it_in_english_whatever_the_language(
    receiver, local_network, organization, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO, logger="webhooks")
    receiver.answers = [(400, {}, b"")]
    endpoint = make_endpoint(organization, receiver.url)
    with translation.override("zh-hans"):
        send_test(endpoint, django_capture_on_commit_callbacks)
    lines = [r.getMessage() for r in caplog.records if r.name == "webhooks.services.sending"]
    assert lines and all(
        line.endswith("attempt 1: failed (The endpoint answered 400 Bad Request.)")
        for line in lines
    )


# --- the migration ---


def test_attempts_made_before_the_migration_keep_their_english(transactional_db):
    executor = MigrationExecutor(connection)
    executor.migrate([("webhooks", "0005_names_translated")])
    old = executor.loader.project_state([("webhooks", "0005_names_translated")]).apps
    try:
        organization = old.get_model("core", "Organization").objects.create(name="Before")
        endpoint = old.get_model("webhooks", "WebhookEndpoint").objects.create(
            organization=organization, url="https://hooks.example.com/", secret="whsec_x"
        )
        delivery = old.get_model("webhooks", "WebhookDelivery").objects.create(
            endpoint=endpoint, event_type="webhook.test", body="{}"
        )
        old.get_model("webhooks", "WebhookAttempt").objects.create(
            delivery=delivery,
            number=1,
            started_at=timezone.now(),
            duration_ms=1,
            error=BEFORE_THE_CODES,
            outcome="failed",
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    attempt = WebhookAttempt.objects.get()
    assert (attempt.error_code, attempt.error_params, attempt.error_text) == (
        "",
        {},
        BEFORE_THE_CODES,
    )
    with translation.override("zh-hans"):
        assert attempt.error == BEFORE_THE_CODES
