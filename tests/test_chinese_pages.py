"""The main pages in Chinese say nothing in English but IDs, CIDRs, commands, the AWS
console's names and product names: a string someone forgot to mark fails here."""

import pytest
from django.urls import reverse

from core import audit
from peerings.models import SupportRequest
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
    # The actions' names are the i18n-codes branch's (checked below, marked until merged).
    actions = [str(label) for _, label in audit.customer_actions()]
    assert english_sentences(chinese_page(client, url, htmx), allowed=actions) == []


# Refusals, failure reasons and the audit log's actions and messages become codes rendered in
# the reader's language on the i18n-codes branch: strict, so that the merge turns these red
# until their marks are removed.
CODES = pytest.mark.xfail(strict=True, reason="refusals and audit texts: the i18n-codes branch")


@CODES
def test_the_delete_refusal_in_chinese_has_no_english_sentence(client, world):
    url, htmx = pages(world)["delete refused"]
    assert english_sentences(chinese_page(client, url, htmx)) == []


@CODES
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
