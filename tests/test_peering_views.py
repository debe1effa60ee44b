"""The web side of creating a VPC peering: the dialog, confirming a request, the live row,
Retry and the demo shortcut. AWS is the moto simulator; queued tasks run inline."""

import html
import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from core.models import AuditEvent
from demo import sandbox
from demo.aws import SandboxEc2
from peerings import services
from peerings.models import PeeringConnection
from peerings.services.checks import not_for_this_deployment
from tests.support.aws import CUSTOMER, vendor_ec2
from tests.support.factories import (
    another_organizations_deployment,
    confirmed,
    make_deployment,
    make_peering,
)
from tests.support.web import HTMX, detail_url, errors_of

pytestmark = pytest.mark.django_db

# The worker's on_commit callbacks only fire when the request's transaction really commits,
# as in production; these tests need the inline task to have run by the end of the request.
committing = pytest.mark.django_db(transaction=True)


def new_url(deployment):
    return reverse("peering-new", args=[deployment.pk])


DEMO_REQUEST_PATH = "/deployments/{}/peerings/demo-request/"


def demo_url(deployment):
    """The demo's button (demo mode only: its URL exists only when the demo app is in)."""
    return reverse("peering-demo-request", args=[deployment.pk])


def row_url(peering):
    return reverse("peering-row", args=[peering.deployment_id, peering.pk])


def retry_url(peering):
    return reverse("peering-retry", args=[peering.deployment_id, peering.pk])


def form_data(request):
    return {
        "peering_id": request.peering_id,
        "account_id": request.account_id,
        "vpc_id": request.vpc_id,
    }


def form_errors(page):
    match = re.search(r'<ul class="errorlist" id="form-errors">(.*?)</ul>', page, re.S)
    return match.group(1) if match else None


# --- the dialog ---


def test_it_shows_the_values_the_customer_needs_in_aws(client, owner, aws_deployment, settings):
    client.force_login(owner)
    response = client.get(new_url(aws_deployment))
    assert response.status_code == 200
    page = response.content.decode()
    for label in (
        "Region of deployment",
        "VPC ID of deployment",
        "CIDR of deployment",
        f"Account ID of {settings.VENDOR_NAME}",
    ):
        assert f"<dt>{label}</dt>" in page
    values = ("us-east-1", aws_deployment.vpc_id, "10.20.0.0/16", "123456789012")
    for value in values:
        assert f">{value}</code>" in page
        assert f'data-copy="{value}"' in page
    command = (
        "aws ec2 create-vpc-peering-connection --vpc-id &lt;your VPC&gt; "
        f"--peer-vpc-id {aws_deployment.vpc_id} --peer-owner-id 123456789012 "
        "--region us-east-1"
    )
    assert f'<pre id="cli-create">{command}</pre>' in page
    assert f'data-copy="{command}"' in page
    for name, label in (
        ("peering_id", "Peering ID"),
        ("account_id", "Account ID"),
        ("vpc_id", "VPC ID"),
    ):
        assert f'<label for="id_{name}">{label}</label>' in page
        assert f'name="{name}"' in page
    confirm = '<button type="submit" class="primary" data-busy-label="Checking with AWS…">'
    assert confirm + "Confirm</button>" in page


def test_it_serves_the_dialog_alone_to_htmx_and_a_full_page_without_js(client, owner, deployment):
    client.force_login(owner)
    fragment = client.get(new_url(deployment), **HTMX)
    assert fragment.status_code == 200
    assert 'id="peering-dialog"' in fragment.content.decode()
    assert "<html" not in fragment.content.decode()
    page = client.get(new_url(deployment))
    assert page.status_code == 200
    assert "<html" in page.content.decode()
    assert 'id="peering-dialog"' in page.content.decode()
    # Without JS the form still posts to the same view.
    assert f'method="post" action="{new_url(deployment)}"' in page.content.decode()


def test_it_tells_caches_the_dialog_depends_on_the_htmx_header(client, owner, deployment):
    client.force_login(owner)
    response = client.get(new_url(deployment), **HTMX)
    assert "HX-Request" in response.get("Vary", "")


@pytest.mark.parametrize(("role", "shown"), [("owner", True), ("member", True), ("viewer", False)])
def test_the_new_peering_button_is_for_those_who_may_act(client, request, deployment, role, shown):
    client.force_login(request.getfixturevalue(role))
    page = client.get(detail_url(deployment)).content.decode()
    assert ("+ VPC Peering Connection" in page) is shown
    assert (f'href="{new_url(deployment)}"' in page) is shown


def test_a_member_may_open_the_dialog(client, member, deployment):
    client.force_login(member)
    assert client.get(new_url(deployment)).status_code == 200


def test_the_demo_button_says_so_when_the_simulator_is_down(
    client, owner, deployment, demo_mode, aws_unreachable
):
    client.force_login(owner)
    response = client.post(demo_url(deployment), **HTMX)
    assert response.status_code == 200
    assert '<ul class="errorlist" id="demo-errors"><li>The AWS simulator did not answer' in (
        response.content.decode()
    )


def test_the_customer_command_says_so_when_the_simulator_is_down(
    deployment, demo_mode, aws_unreachable
):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="simulator did not answer"):
        call_command("create_customer_request", deployment.name)


# --- who and what may reach the views ---


@pytest.mark.parametrize("plan", ["free_trial", "shared"])
def test_peering_is_refused_on_free_trial_and_shared_plans(
    client, owner, organization, plan, demo_mode
):
    deployment = make_deployment(organization, name=plan, plan=plan)
    client.force_login(owner)
    assert client.get(new_url(deployment)).status_code == 404
    data = {
        "peering_id": "pcx-0123456789abcdef0",
        "account_id": CUSTOMER,
        "vpc_id": "vpc-0123456789abcdef0",
    }
    assert client.post(new_url(deployment), data).status_code == 404
    assert client.post(new_url(deployment), data, **HTMX).status_code == 404
    assert client.post(demo_url(deployment)).status_code == 404
    assert PeeringConnection.objects.count() == 0


def test_a_viewer_may_not_act(client, viewer, deployment, demo_mode):
    failed = make_peering(deployment, "failed", status_reason_code="aws_rejected", retryable=True)
    client.force_login(viewer)
    data = {
        "peering_id": "pcx-0123456789abcdef0",
        "account_id": CUSTOMER,
        "vpc_id": "vpc-0123456789abcdef0",
    }
    assert client.get(new_url(deployment)).status_code == 403
    assert client.post(new_url(deployment), data).status_code == 403
    assert client.post(demo_url(deployment)).status_code == 403
    assert client.post(retry_url(failed)).status_code == 403
    assert PeeringConnection.objects.count() == 1
    failed.refresh_from_db()
    assert failed.status == "failed"
    assert not AuditEvent.objects.filter(action="peering.retried").exists()


def test_a_viewer_may_watch_a_row(client, viewer, deployment):
    row = make_peering(deployment, "running")
    client.force_login(viewer)
    response = client.get(row_url(row))
    assert response.status_code == 200
    assert row.peering_id in response.content.decode()


def test_an_outsider_gets_404_from_every_peering_view(client, outsider, deployment, demo_mode):
    failed = make_peering(deployment, "failed", status_reason_code="aws_rejected", retryable=True)
    client.force_login(outsider)
    data = {
        "peering_id": "pcx-0123456789abcdef0",
        "account_id": CUSTOMER,
        "vpc_id": "vpc-0123456789abcdef0",
    }
    assert client.get(new_url(deployment)).status_code == 404
    assert client.post(new_url(deployment), data).status_code == 404
    assert client.post(demo_url(deployment)).status_code == 404
    assert client.get(row_url(failed)).status_code == 404
    assert client.post(retry_url(failed)).status_code == 404
    assert PeeringConnection.objects.count() == 1
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_a_row_of_another_deployment_is_not_found(client, owner, organization, deployment):
    other = make_deployment(organization, name="other")
    row = make_peering(other, "running")
    client.force_login(owner)
    url = reverse("peering-row", args=[deployment.pk, row.pk])
    assert client.get(url).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, deployment):
    row = make_peering(deployment, "failed", retryable=True)
    for response in (
        client.get(new_url(deployment)),
        client.get(row_url(row)),
        client.post(retry_url(row)),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_wrong_methods_get_405(client, owner, deployment, demo_mode):
    row = make_peering(deployment, "failed", retryable=True)
    client.force_login(owner)
    assert client.get(retry_url(row)).status_code == 405
    assert client.get(demo_url(deployment)).status_code == 405
    assert client.post(row_url(row)).status_code == 405
    assert client.put(new_url(deployment)).status_code == 405
    assert client.delete(new_url(deployment)).status_code == 405


def test_posts_without_a_csrf_token_are_refused(owner, deployment):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    row = make_peering(deployment, "failed", status_reason_code="aws_rejected", retryable=True)
    data = {
        "peering_id": "pcx-0123456789abcdef0",
        "account_id": CUSTOMER,
        "vpc_id": "vpc-0123456789abcdef0",
    }
    assert client.post(new_url(deployment), data).status_code == 403
    assert client.post(new_url(deployment), data, **HTMX).status_code == 403
    assert client.post(retry_url(row)).status_code == 403
    assert PeeringConnection.objects.count() == 1
    row.refresh_from_db()
    assert (row.status, row.retryable) == ("failed", True)
    assert not AuditEvent.objects.filter(action__startswith="peering.").exists()


# --- confirming a request ---


@committing
def test_it_creates_a_peering_and_runs_it(client, owner, aws_deployment):
    request = sandbox.create_customer_request(aws_deployment)
    client.force_login(owner)
    response = client.post(new_url(aws_deployment), form_data(request))
    assert response.status_code == 302
    assert response["Location"] == detail_url(aws_deployment)
    peering = PeeringConnection.objects.get()
    assert peering.deployment == aws_deployment
    assert peering.peering_id == request.peering_id
    assert peering.customer_account_id == CUSTOMER
    assert peering.customer_vpc_id == request.vpc_id
    assert peering.customer_cidrs == [request.cidr]
    assert peering.created_by == owner
    assert peering.status == "running"
    ec2 = vendor_ec2()
    assert ec2.describe_peering(request.peering_id).status == "active"
    created = AuditEvent.objects.get(action="peering.created")
    assert created.actor == owner


@committing
def test_with_htmx_it_closes_the_dialog_and_replaces_the_table(client, owner, aws_deployment):
    request = sandbox.create_customer_request(aws_deployment)
    client.force_login(owner)
    response = client.post(new_url(aws_deployment), form_data(request), **HTMX)
    assert response.status_code == 200
    assert "closeDialog" in json.loads(response["HX-Trigger"])
    # The fragment replaces both of the deployment's tables at once.
    target = response["HX-Retarget"]
    assert target == "#tables"
    assert response["HX-Reswap"] == "outerHTML"
    page = response.content.decode()
    assert "<html" not in page
    assert f'id="{target[1:]}"' in page
    assert '<table class="table" id="peering-table">' in page
    assert request.peering_id in page
    peering = PeeringConnection.objects.get()
    assert peering.status == "running"
    assert '<span class="pill pill-running">running</span>' in page


def test_a_full_deployment_says_so_in_the_dialog_and_saves_nothing(
    client, owner, aws_deployment, settings
):
    settings.AWS_RULES_PER_SECURITY_GROUP = 1  # not even one CIDR on two ports fits
    request = sandbox.create_customer_request(aws_deployment)
    client.force_login(owner)
    response = client.post(new_url(aws_deployment), form_data(request), **HTMX)
    assert response.status_code == 200
    assert "no room for another VPC peering" in form_errors(response.content.decode())
    assert PeeringConnection.objects.count() == 0


def test_it_accepts_ids_as_people_paste_them(client, owner, aws_deployment):
    request = sandbox.create_customer_request(aws_deployment)
    client.force_login(owner)
    response = client.post(
        new_url(aws_deployment),
        {
            "peering_id": f"  {request.peering_id.upper()} ",
            "account_id": "2109-8765-4321",
            "vpc_id": f" {request.vpc_id.upper()}\t",
        },
    )
    assert response.status_code == 302
    peering = PeeringConnection.objects.get()
    assert (peering.peering_id, peering.customer_account_id, peering.customer_vpc_id) == (
        request.peering_id,
        CUSTOMER,
        request.vpc_id,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("peering_id", "pcx-123"),
        ("peering_id", "vpc-0123456789abcdef0"),
        ("peering_id", ""),
        ("account_id", "21098765432"),
        ("account_id", "21098765432a"),
        ("account_id", ""),
        ("vpc_id", "vpc-xyz"),
        ("vpc_id", "sg-0123456789abcdef0"),
        ("vpc_id", ""),
    ],
)
def test_a_badly_formed_value_is_refused_next_to_its_field(client, owner, deployment, field, value):
    data = {
        "peering_id": "pcx-0123456789abcdef0",
        "account_id": CUSTOMER,
        "vpc_id": "vpc-0123456789abcdef0",
        field: value,
    }
    client.force_login(owner)
    response = client.post(new_url(deployment), data, **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert errors_of(page, field)
    for other in {"peering_id", "account_id", "vpc_id"} - {field}:
        assert errors_of(page, other) is None
    assert PeeringConnection.objects.count() == 0


def test_a_wrong_vpc_id_is_refused_naming_the_real_one(client, owner, aws_deployment):
    request = sandbox.create_customer_request(aws_deployment)
    client.force_login(owner)
    data = {**form_data(request), "vpc_id": "vpc-0123456789abcdef0"}
    response = client.post(new_url(aws_deployment), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert request.vpc_id in errors_of(page, "vpc_id")
    assert errors_of(page, "peering_id") is None
    assert errors_of(page, "account_id") is None
    assert PeeringConnection.objects.count() == 0


def test_a_wrong_account_is_refused(client, owner, aws_deployment):
    request = sandbox.create_customer_request(aws_deployment)
    client.force_login(owner)
    data = {**form_data(request), "account_id": "111122223333"}
    response = client.post(new_url(aws_deployment), data)
    assert response.status_code == 200
    errors = errors_of(response.content.decode(), "account_id")
    assert CUSTOMER in errors
    assert "111122223333" in errors
    assert PeeringConnection.objects.count() == 0


def test_an_unknown_peering_id_is_refused(client, owner, aws_deployment):
    request = sandbox.create_customer_request(aws_deployment)
    client.force_login(owner)
    data = {**form_data(request), "peering_id": "pcx-0123456789abcdef0"}
    response = client.post(new_url(aws_deployment), data)
    assert response.status_code == 200
    errors = errors_of(response.content.decode(), "peering_id")
    assert "No VPC peering connection pcx-0123456789abcdef0 exists in us-east-1" in errors
    assert PeeringConnection.objects.count() == 0


def test_an_outsiders_pcx_gets_the_answer_of_one_that_does_not_exist(
    client, owner, outsider, aws_deployment
):
    """A pcx addressed to another organization's deployment: the dialog shows only the
    message of a request that does not exist, and none of that deployment's or its
    requester's values anywhere in the page."""
    theirs = another_organizations_deployment(outsider)
    request = sandbox.create_customer_request(theirs, account_id="333344445555")
    client.force_login(owner)
    response = client.post(new_url(aws_deployment), form_data(request))
    assert response.status_code == 200
    page = response.content.decode()
    shown = html.unescape(errors_of(page, "peering_id")).strip()
    [message] = not_for_this_deployment(aws_deployment, request.peering_id)["peering_id"]
    assert shown == f"<li>{message}</li>"
    assert errors_of(page, "account_id") is None
    assert errors_of(page, "vpc_id") is None
    # The form echoes what was typed (the requester's account and VPC): nothing more.
    for secret in (theirs.vpc_id, theirs.cidr, theirs.security_group_id, request.cidr):
        assert secret not in page
    assert PeeringConnection.objects.count() == 0


def test_a_customer_vpc_in_a_reserved_range_is_refused(client, owner, aws_deployment):
    request = sandbox.create_customer_request(aws_deployment, cidr="100.64.0.0/16")
    client.force_login(owner)
    response = client.post(new_url(aws_deployment), form_data(request))
    assert response.status_code == 200
    errors = errors_of(response.content.decode(), "vpc_id")
    assert "100.64.0.0/16" in errors
    assert "100.0.0.0/8" in errors
    assert PeeringConnection.objects.count() == 0
    ec2 = vendor_ec2()
    assert ec2.describe_peering(request.peering_id).status == "pending-acceptance"


def test_the_same_peering_id_cannot_be_confirmed_twice(client, owner, aws_deployment):
    request = sandbox.create_customer_request(aws_deployment)
    client.force_login(owner)
    assert client.post(new_url(aws_deployment), form_data(request)).status_code == 302
    response = client.post(new_url(aws_deployment), form_data(request))
    assert response.status_code == 200
    errors = errors_of(response.content.decode(), "peering_id")
    assert f"{request.peering_id} is already in use" in errors
    assert PeeringConnection.objects.count() == 1


def test_a_second_request_from_a_peered_vpc_is_refused(client, owner, aws_deployment):
    first = sandbox.create_customer_request(aws_deployment)
    client.force_login(owner)
    assert client.post(new_url(aws_deployment), form_data(first)).status_code == 302
    customer = SandboxEc2(first.region, first.account_id)
    second_id = customer.request_peering(
        first.vpc_id, aws_deployment.vpc_id, aws_deployment.vendor_account_id, aws_deployment.region
    )
    response = client.post(new_url(aws_deployment), {**form_data(first), "peering_id": second_id})
    assert response.status_code == 200
    page = response.content.decode()
    errors = errors_of(page, "vpc_id")
    assert f"{first.vpc_id} is already peered with this deployment" in errors
    assert first.peering_id in errors
    assert errors_of(page, "peering_id") is None
    assert PeeringConnection.objects.count() == 1


def test_it_says_so_when_aws_does_not_answer(client, owner, deployment, aws_unreachable):
    client.force_login(owner)
    data = {
        "peering_id": "pcx-0123456789abcdef0",
        "account_id": CUSTOMER,
        "vpc_id": "vpc-0123456789abcdef0",
    }
    response = client.post(new_url(deployment), data, **HTMX)
    assert response.status_code == 200
    assert "AWS did not answer in time" in form_errors(response.content.decode())
    assert PeeringConnection.objects.count() == 0


# --- the live row ---


@pytest.mark.parametrize("status", ["pending", "provisioning", "deleting"])
def test_a_row_in_progress_polls_for_its_status(client, owner, deployment, status):
    row = make_peering(deployment, status)
    client.force_login(owner)
    response = client.get(row_url(row))
    assert response.status_code == 200
    page = response.content.decode()
    # The poll says which status it shows, so that a change can be announced.
    assert f'hx-get="{row_url(row)}?was={status}" hx-trigger="every 2s"' in page
    busy = f'<span class="pill pill-{status}"><span class="spinner" aria-hidden="true"></span>'
    assert busy + f"{status}</span>" in page
    assert "<html" not in page


def test_a_row_seen_reaching_deleted_offers_no_delete_and_stops_polling(client, owner, deployment):
    row = make_peering(deployment, "deleted")
    client.force_login(owner)
    page = client.get(row_url(row), HTTP_HX_REQUEST="true").content.decode()
    assert "moved to history" in page
    assert "Delete</a>" not in page and "hx-trigger" not in page
    running = make_peering(deployment, "running", n=2)
    assert "Delete</a>" in client.get(row_url(running), HTTP_HX_REQUEST="true").content.decode()


def test_a_running_row_stops_polling_and_shows_the_customer_steps(client, owner, deployment):
    row = make_peering(deployment, "running")
    client.force_login(owner)
    page = client.get(row_url(row)).content.decode()
    assert "every 2s" not in page
    assert '<span class="pill pill-running">running</span>' in page
    assert "Finish in your AWS account" in page
    steps_url = reverse("peering-steps", args=[deployment.pk, row.pk])
    assert f'hx-get="{steps_url}" hx-trigger="toggle once"' in page
    command = (
        "aws ec2 create-route --route-table-id &lt;your route table&gt; "
        f"--destination-cidr-block 10.20.0.0/16 --vpc-peering-connection-id {row.peering_id} "
        "--region us-east-1"
    )
    fragment = client.get(steps_url, HTTP_HX_REQUEST="true")
    assert command in fragment.content.decode()
    assert "<html" not in fragment.content.decode()
    assert "HX-Request" in fragment["Vary"]
    assert command in client.get(steps_url).content.decode()  # a page of its own without JS


def test_a_pending_row_does_not_show_the_customer_steps_yet(client, owner, deployment):
    row = make_peering(deployment, "pending")
    client.force_login(owner)
    page = client.get(row_url(row)).content.decode()
    assert "Finish in your AWS account" not in page
    assert client.get(reverse("peering-steps", args=[deployment.pk, row.pk])).status_code == 404


def test_an_outsider_cannot_read_the_customer_steps(client, outsider, deployment):
    row = make_peering(deployment, "running")
    client.force_login(outsider)
    assert client.get(reverse("peering-steps", args=[deployment.pk, row.pk])).status_code == 404


def test_a_failed_row_shows_why_and_offers_retry(client, owner, deployment):
    row = make_peering(
        deployment,
        "failed",
        retryable=True,
        status_reason_code="aws_rejected",
    )
    client.force_login(owner)
    page = client.get(row_url(row)).content.decode()
    assert "every 2s" not in page
    assert "AWS refused a step of the set-up." in page
    assert f'action="{retry_url(row)}"' in page
    assert ">Retry</button>" in page


def test_no_retry_when_it_cannot_succeed(client, owner, deployment):
    row = make_peering(
        deployment,
        "failed",
        retryable=False,
        status_reason_code="request_expired",
        status_reason_params={"peering_id": "pcx-0expired"},
    )
    client.force_login(owner)
    page = client.get(row_url(row)).content.decode()
    assert "pcx-0expired has expired" in page
    assert ">Retry</button>" not in page
    assert retry_url(row) not in page


def test_a_viewer_sees_why_but_no_retry(client, viewer, deployment):
    row = make_peering(deployment, "failed", retryable=True, status_reason_code="aws_rejected")
    client.force_login(viewer)
    page = client.get(row_url(row)).content.decode()
    assert "AWS refused a step of the set-up." in page
    assert ">Retry</button>" not in page
    assert retry_url(row) not in page


def test_it_escapes_the_status_reason(client, owner, deployment):
    # AWS's own words are a parameter: whatever they hold is shown as text.
    make_peering(
        deployment,
        "failed",
        status_reason_code="request_failed_in_aws_saying",
        status_reason_params={"peering_id": "pcx-0", "aws_message": "<script>alert(1)</script>"},
    )
    row = PeeringConnection.objects.get()
    client.force_login(owner)
    page = client.get(row_url(row)).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- retry ---


def failed_row_for(deployment, retryable=True):
    """A peering whose set-up stopped on an AWS outage, its request waiting in AWS."""
    return confirmed(
        deployment,
        status="failed",
        retryable=retryable,
        status_reason_code="setup_unavailable",
    )


@committing
def test_retry_runs_the_set_up_again(client, owner, aws_deployment):
    row = failed_row_for(aws_deployment)
    client.force_login(owner)
    response = client.post(retry_url(row))
    assert response.status_code == 302
    assert response["Location"] == detail_url(aws_deployment) + "#peerings"
    row.refresh_from_db()
    assert row.status == "running"
    assert row.status_reason == ""
    retried = AuditEvent.objects.get(action="peering.retried")
    assert retried.actor == owner
    assert retried.target_id == str(row.pk)
    assert vendor_ec2().describe_peering(row.peering_id).status == "active"


def test_retry_with_htmx_returns_the_row(client, owner, deployment):
    row = make_peering(deployment, "failed", retryable=True, status_reason_code="aws_rejected")
    client.force_login(owner)
    response = client.post(retry_url(row), **HTMX)
    assert response.status_code == 200
    assert f'id="peering-{row.pk}"' in response.content.decode()


def test_retry_of_a_failure_that_cannot_be_retried_changes_nothing(client, owner, aws_deployment):
    row = failed_row_for(aws_deployment, retryable=False)
    client.force_login(owner)
    client.post(retry_url(row))
    row.refresh_from_db()
    assert (row.status, row.retryable) == ("failed", False)
    assert row.status_reason.startswith("AWS did not answer")
    assert not AuditEvent.objects.filter(action="peering.retried").exists()
    assert vendor_ec2().describe_peering(row.peering_id).status == "pending-acceptance"


def test_retry_of_a_running_row_changes_nothing(client, owner, deployment):
    row = make_peering(deployment, "running", retryable=True)
    client.force_login(owner)
    client.post(retry_url(row))
    row.refresh_from_db()
    assert row.status == "running"
    assert not AuditEvent.objects.filter(action="peering.retried").exists()


def test_retry_of_a_row_made_unretryable_meanwhile_does_nothing(deployment):
    row = make_peering(deployment, "failed", n=0xA, cidr="172.16.0.0/24", retryable=True)
    stale = PeeringConnection.objects.get(pk=row.pk)
    PeeringConnection.objects.filter(pk=row.pk).update(retryable=False)
    assert services.retry_peering(stale) is False
    assert PeeringConnection.objects.get(pk=row.pk).status == "failed"


# --- demo mode ---


def test_in_demo_mode_it_makes_a_request_and_fills_the_form_in(
    client, owner, aws_deployment, demo_mode
):
    client.force_login(owner)
    dialog = client.get(new_url(aws_deployment), **HTMX).content.decode()
    assert "create this request from a sandbox customer account" in dialog
    response = client.post(demo_url(aws_deployment), **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page
    peering_id = re.search(r'name="peering_id" value="(pcx-[0-9a-f]{17})"', page).group(1)
    assert f'name="account_id" value="{CUSTOMER}"' in page
    vpc_id = re.search(r'name="vpc_id" value="(vpc-[0-9a-f]{17})"', page).group(1)
    # A real request now waits in AWS; nothing is saved until the customer confirms.
    request = vendor_ec2().describe_peering(peering_id)
    assert request.status == "pending-acceptance"
    assert request.requester_vpc_id == vpc_id
    assert PeeringConnection.objects.count() == 0


def test_the_demo_request_is_where_the_button_posts(demo_mode, deployment):
    assert demo_url(deployment) == DEMO_REQUEST_PATH.format(deployment.pk)


def test_outside_demo_mode_there_is_no_demo_request(client, owner, deployment, settings):
    assert not settings.DEMO_MODE
    client.force_login(owner)
    demo_path = DEMO_REQUEST_PATH.format(deployment.pk)
    assert client.post(demo_path).status_code == 404
    dialog = client.get(new_url(deployment), **HTMX).content.decode()
    assert "create this request from a sandbox customer account" not in dialog
    assert demo_path not in dialog


def test_the_confirmation_says_what_happens_next_in_the_readers_language(
    client, owner, aws_deployment
):
    request = sandbox.create_customer_request(aws_deployment)
    client.force_login(owner)
    response = client.post(
        new_url(aws_deployment),
        form_data(request),
        headers={"accept-language": "zh-CN"},
        follow=True,
    )
    page = response.content.decode()
    assert f"{request.peering_id} 已确认" in page
    assert "We are accepting it" not in page
