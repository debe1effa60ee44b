"""The main pages in Chinese say nothing in English but IDs, CIDRs, commands, the AWS
console's names and product names: a string someone forgot to mark fails here."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from api.models import ApiKey
from core import audit
from peerings.models import SupportRequest
from tests.support.api import make_key
from tests.support.english import english_sentences
from tests.support.factories import make_peering, make_resource
from tests.support.web import HTMX, detail_url

pytestmark = pytest.mark.django_db

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


@pytest.fixture
def world(client, owner, deployment, settings):
    settings.VENDOR_NAME = "Example"
    running = make_peering(deployment, "running", n=1)
    failed = make_peering(deployment, "failed", n=2, retryable=True)
    make_peering(deployment, "pending", n=3)
    make_peering(deployment, "peer_deleted", n=4)
    make_peering(deployment, "deleted", n=5)
    answered = make_peering(deployment, "failed", n=6)
    SupportRequest.objects.create(peering=answered, state="open")
    resource = make_resource(running)
    client.force_login(owner)
    return deployment, running, failed, resource


@pytest.fixture
def api_keys(world, owner):
    """One API key used from an address, one never used and expiring: every cell of the
    list. Not in `world`: their audit events would change the audit log page checked above."""
    organization = world[0].organization
    used, _secret = make_key(organization, owner, name="terraform-prod")
    ApiKey.objects.filter(pk=used.pk).update(
        last_used_at=timezone.now(), last_used_ip="198.51.100.7"
    )
    viewer_key, _secret = make_key(
        organization,
        owner,
        role="viewer",
        name="grafana",
        expires_at=timezone.now() + timedelta(days=30),
    )
    return used, viewer_key


def chinese_page(client, url, htmx=False):
    response = client.get(url, **CHINESE, **(HTMX if htmx else {}))
    assert response.status_code == 200, url
    return response.content.decode()


def pages(world):
    deployment, running, failed, resource = world
    d = deployment.pk
    return {
        "deployment list": (reverse("deployment-list"), False),
        "deployment page": (detail_url(deployment), False),
        "create dialog": (reverse("peering-new", args=[d]), True),
        "create page": (reverse("peering-new", args=[d]), False),
        "delete dialog": (reverse("peering-delete", args=[d, failed.pk]), True),
        "delete refused": (reverse("peering-delete", args=[d, running.pk]), True),
        "steps": (reverse("peering-steps", args=[d, running.pk]), False),
        "resource dialog": (reverse("resource-new", args=[d]), True),
        "move dialog": (reverse("resource-move", args=[d, resource.pk]), True),
        "resource delete dialog": (reverse("resource-delete", args=[d, resource.pk]), True),
        "support request": (reverse("peering-support", args=[d, failed.pk]), True),
        "audit log": (reverse("audit-log"), False),
        "login": (reverse("login"), False),
    }


@pytest.mark.parametrize(
    "name",
    [
        "deployment list",
        "deployment page",
        "create dialog",
        "create page",
        "delete dialog",
        "steps",
        "resource dialog",
        "move dialog",
        "resource delete dialog",
        "support request",
        "audit log",
        "login",
    ],
)
def test_a_main_page_in_chinese_has_no_english_sentence(client, world, name):
    url, htmx = pages(world)[name]
    assert english_sentences(chinese_page(client, url, htmx)) == []


@pytest.mark.parametrize("name", ["list", "form", "revoke"])
def test_an_api_key_page_in_chinese_has_no_english_sentence(client, world, api_keys, name):
    url = {
        "list": reverse("api-key-list"),
        "form": reverse("api-key-new", args=[world[0].organization_id]),
        "revoke": reverse("api-key-revoke", args=[api_keys[0].pk]),
    }[name]
    # REST API: the name Chinese consoles keep, as they keep the AWS console's.
    assert english_sentences(chinese_page(client, url), allowed=["REST API"]) == []


def test_the_api_key_created_page_in_chinese_has_no_english_sentence(client, world):
    organization = world[0].organization
    response = client.post(
        reverse("api-key-new", args=[organization.pk]),
        {"name": "terraform", "role": "viewer", "expires_on": ""},
        **CHINESE,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "API 密钥已创建" in page
    assert english_sentences(page) == []


def test_revoking_an_api_key_in_chinese_says_so_in_chinese(client, world, api_keys):
    key = api_keys[0]
    response = client.post(reverse("api-key-revoke", args=[key.pk]), follow=True, **CHINESE)
    page = response.content.decode()
    assert "API 密钥 terraform-prod 已吊销，无法再使用。" in page
    assert english_sentences(page, allowed=["REST API"]) == []


def test_a_refused_api_key_form_in_chinese_has_no_english_sentence(client, world):
    organization = world[0].organization
    response = client.post(
        reverse("api-key-new", args=[organization.pk]),
        {"name": "", "role": "member", "expires_on": "2001-01-01"},
        **CHINESE,
    )
    page = response.content.decode()
    assert 'id="errors-expires_on"' in page and 'id="errors-name"' in page
    assert english_sentences(page) == []


def test_the_api_documentation_in_chinese_says_its_own_words_in_chinese(client, world):
    """The title, description and operations come from the OpenAPI document, English for the
    programs that read it (marked lang="en"); the page's own words around them are Chinese."""
    page = chinese_page(client, reverse("api-docs"))
    intro = page[page.find("<body") : page.find('<section class="card" id="api-operations"')]
    ours = re.sub(r'<(\w+) lang="en">.*?</\1>', " ", intro, flags=re.S)
    assert english_sentences(ours) == []
    assert re.findall(r"<h2>(.*?)</h2>", page) == ["接口", "对象"]
    assert "<p>请求体（JSON）：</p>" in page and "错误：" in page


# Refusals, failure reasons and the audit log's actions and messages are codes rendered in
# the reader's language (core/reasons.py).
def test_the_delete_refusal_in_chinese_has_no_english_sentence(client, world):
    url, htmx = pages(world)["delete refused"]
    assert english_sentences(chinese_page(client, url, htmx)) == []


def test_the_audit_logs_events_in_chinese_have_no_english_sentence(client, world):
    deployment = world[0]
    audit.record(
        "peering.created", actor=audit.Actor(name="olivia", source="web"), deployment=deployment
    )
    assert english_sentences(chinese_page(client, reverse("audit-log"))) == []


def test_the_check_finds_an_english_sentence():
    page = "<body><p>对等连接 <code>pcx-0a1b</code> is running now.</p></body>"
    assert english_sentences(page) == ["is running now"]
    assert english_sentences('<body><button aria-label="Copy the value">复制</button>') == [
        "Copy the value"
    ]
    assert english_sentences("<body><em>Route Tables</em> 和 <code>aws ec2 x y</code></body>") == []
