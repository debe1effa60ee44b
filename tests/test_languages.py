"""Which language a page speaks: the browser's Accept-Language at first, English when it
asks for nothing we have; then the header's switcher (Django's set_language, a POST with
CSRF), kept on the user so that it follows them to other sessions and devices and wins
over the browser there; <html lang> says which; dates and times the reader's way."""

import re
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core import audit
from core.models import UserPreference
from tests.support.factories import make_peering
from tests.support.web import detail_url, queries_for

pytestmark = pytest.mark.django_db

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}


def html_lang(page):
    return re.search(r'<html lang="([^"]+)">', page).group(1)


def page(client, url, **headers):
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode()


def switch(client, language, next_url="/"):
    return client.post(reverse("set_language"), {"language": language, "next": next_url})


def test_it_speaks_english_by_default(client, owner, deployment):
    client.force_login(owner)
    text = page(client, detail_url(deployment))
    assert html_lang(text) == "en"
    assert "VPC peering connections" in text and "+ VPC Peering Connection" in text


def test_it_speaks_english_to_a_browser_asking_for_a_language_we_do_not_have(
    client, owner, deployment
):
    client.force_login(owner)
    text = page(client, detail_url(deployment), HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert html_lang(text) == "en"


def test_it_follows_the_browsers_accept_language(client, owner, deployment):
    client.force_login(owner)
    text = page(client, detail_url(deployment), **CHINESE)
    assert html_lang(text) == "zh-Hans"
    assert "VPC 对等连接" in text and "注意事项" in text and "资源" in text
    assert page(client, reverse("login"), **CHINESE).count("登录") >= 2


def test_the_seeds_notes_read_in_the_seeds_words_with_our_vendor_and_ranges(
    client, owner, deployment, settings
):
    import ipaddress

    settings.VENDOR_NAME = "Example Cloud"
    settings.RESERVED_CIDRS = [ipaddress.ip_network(c) for c in ("100.0.0.0/8", "101.0.0.0/8")]
    client.force_login(owner)
    notes = re.search(
        r'<section class="card notes".*?</section>',
        page(client, detail_url(deployment), **CHINESE),
        re.S,
    ).group(0)
    text = re.sub(r"<[^>]+>", "", notes)
    assert "注意事项" in text
    assert "Example Cloud 只支持同一区域创建对等连接" in text
    assert "Example Cloud 不支持 100.0.0.0/8，101.0.0.0/8 网段" in text
    assert "请合理规划您的 VPC 网段" in text
    assert "对等连接与资源相互绑定，创建资源前请先创建对等连接" in text


def test_status_words_and_delete_read_in_chinese(client, owner, deployment):
    make_peering(deployment, "running")
    client.force_login(owner)
    text = page(client, detail_url(deployment), **CHINESE)
    assert re.search(r'<span class="pill pill-running">运行中</span>', text)
    assert ">删除</a>" in text
    # The machine's word stays in the markup that scripts and styles read.
    assert 'data-status="running"' in text


def test_the_header_offers_a_labelled_switcher_that_posts_with_csrf(client, owner, deployment):
    client.force_login(owner)
    text = page(client, detail_url(deployment))
    form = re.search(r'<form[^>]*id="language-switch".*?</form>', text, re.S).group(0)
    assert 'method="post"' in form and f'action="{reverse("set_language")}"' in form
    assert 'name="csrfmiddlewaretoken"' in form
    assert '<label for="language-select">Language</label>' in form
    assert '<option value="zh-hans" lang="zh-hans">简体中文</option>' in form
    assert '<button type="submit"' in form  # works without JavaScript, by keyboard
    assert f'name="next" value="{detail_url(deployment)}"' in form


def test_the_switcher_refuses_a_post_without_csrf_and_a_get(owner):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert strict.post(reverse("set_language"), {"language": "zh-hans"}).status_code == 403
    assert strict.get(reverse("set_language")).status_code == 405
    assert not UserPreference.objects.exists()


def test_a_choice_is_kept_on_the_user_and_wins_over_the_browser(client, owner, deployment):
    client.force_login(owner)
    response = switch(client, "zh-hans", detail_url(deployment))
    assert response.status_code == 302 and response["Location"] == detail_url(deployment)
    assert UserPreference.objects.get(user=owner).language == "zh-hans"
    assert html_lang(page(client, detail_url(deployment), **ENGLISH)) == "zh-Hans"


def test_the_choice_follows_the_user_to_another_device(owner, deployment):
    first = Client()
    first.force_login(owner)
    switch(first, "zh-hans")
    other_device = Client()  # no cookie, no session: only the user remembers
    other_device.post(reverse("login"), {"username": "olivia", "password": "pw-olivia"})
    assert html_lang(page(other_device, detail_url(deployment), **ENGLISH)) == "zh-Hans"


def test_switching_back_to_english_is_kept_too(client, owner, deployment):
    UserPreference.objects.create(user=owner, language="zh-hans")
    client.force_login(owner)
    switch(client, "en")
    assert UserPreference.objects.get(user=owner).language == "en"
    assert html_lang(page(client, detail_url(deployment), **CHINESE)) == "en"


def test_an_unknown_language_changes_nothing(client, owner):
    client.force_login(owner)
    switch(client, "xx")
    assert not UserPreference.objects.exists()


def test_someone_signed_out_can_switch_for_this_browser(client):
    switch(client, "zh-hans", reverse("login"))
    assert html_lang(page(client, reverse("login"), **ENGLISH)) == "zh-Hans"
    assert not UserPreference.objects.exists()


def test_the_stored_language_costs_a_page_no_query(client, owner, deployment):
    client.force_login(owner)
    without, _ = queries_for(client, detail_url(deployment))
    switch(client, "zh-hans")
    with_choice, response = queries_for(client, detail_url(deployment))
    assert with_choice == without
    assert html_lang(response.content.decode()) == "zh-Hans"


def test_relative_times_say_the_utc_time_the_readers_way(client, owner, deployment):
    moment = datetime(2026, 11, 30, 14, 5, tzinfo=UTC)
    make_peering(deployment, "running", created_at=moment, status_changed_at=moment)
    client.force_login(owner)
    english = page(client, detail_url(deployment), **ENGLISH)
    chinese = page(client, detail_url(deployment), **CHINESE)
    assert 'title="2026-11-30 14:05 UTC"' in english
    assert 'title="2026年11月30日 14:05 UTC"' in chinese
    assert "ago" in english
    assert "前" in chinese and " ago" not in chinese


def test_the_audit_log_writes_times_the_readers_way_with_the_zone(
    client, owner, deployment, monkeypatch
):
    with monkeypatch.context() as patched:
        patched.setattr(timezone, "now", lambda: datetime(2026, 11, 30, 14, 5, 9, tzinfo=UTC))
        audit.record(
            "peering.created", actor=audit.Actor(name="olivia", source="web"), deployment=deployment
        )
    client.force_login(owner)
    chinese = page(client, reverse("audit-log"), **CHINESE)
    assert "2026年11月30日 14:05:09 UTC</time>" in chinese
    assert '<th scope="col">时间</th>' in chinese


def test_form_labels_and_field_errors_read_in_chinese(client, owner, deployment):
    client.force_login(owner)
    url = reverse("peering-new", args=[deployment.pk])
    text = page(client, url, **CHINESE)
    assert '<label for="id_account_id">Account ID</label>' in text  # as the seed keeps it
    assert 'placeholder="12 位数字"' in text
    assert ">确认</button>" in text
    refused = client.post(url, {"peering_id": "", "account_id": "", "vpc_id": ""}, **CHINESE)
    # Django REST framework's catalog (an installed app) words it before Django's own does.
    assert "该字段是必填项。" in refused.content.decode()


def test_dates_are_written_iso_in_english_and_without_leading_zeros_in_chinese():
    from django.utils import translation

    from core.templatetags.portal import local_date, utc_time

    moment = datetime(2026, 3, 5, 4, 7, 9, tzinfo=UTC)
    with translation.override("en"):
        assert (local_date(moment), utc_time(moment)) == ("2026-03-05", "2026-03-05 04:07 UTC")
        assert utc_time(moment, "second") == "2026-03-05 04:07:09 UTC"
    with translation.override("zh-hans"):
        assert (local_date(moment), utc_time(moment)) == ("2026年3月5日", "2026年3月5日 04:07 UTC")
        assert utc_time(moment, "second") == "2026年3月5日 04:07:09 UTC"
