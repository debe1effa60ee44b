"""The support admin around a peering: staff land on /admin/; the peering list shows the
status first, as a badge; a peering's page has Retry and Re-sync buttons, what AWS says of
it now, its audit trail and its support requests; messages tell each action's outcome; and
a malformed selected ID is a 400 in every admin of ours."""

import re

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse

from core import audit
from core.admin import SelectedIdsChecked
from core.models import AuditEvent
from demo import sandbox
from peerings import admin as peerings_admin
from peerings import aws, services
from peerings.models import PeeringConnection, SupportRequest
from tests.support.factories import make_deployment, make_peering

pytestmark = pytest.mark.django_db

PEERINGS = "/admin/peerings/peeringconnection/"
# The worker's on_commit callbacks fire only when the request's transaction really commits,
# as in production: with the inline queue, the worker has tried by the end of the request.
committing = pytest.mark.django_db(transaction=True)


def add_peering(deployment, n=1, status="running", **fields):
    return make_peering(deployment, status, n=n, cidr=f"172.16.{n % 250}.0/24", **fields)


def aws_request_row(deployment, cidr="172.16.8.0/24", **fields):
    """A row for a real request in the simulator (its fields may be overridden)."""
    made = sandbox.create_customer_request(deployment, cidr=cidr)
    values = {
        "peering_id": made.peering_id,
        "customer_account_id": made.account_id,
        "customer_vpc_id": made.vpc_id,
        "customer_cidrs": [made.cidr],
    }
    values.update(fields)
    return PeeringConnection.objects.create(deployment=deployment, **values)


def change_page(peering):
    return f"{PEERINGS}{peering.pk}/change/"


def button_url(peering, action):
    return reverse(f"admin:peerings_peeringconnection_{action}", args=[peering.pk])


def messages_of(client, response):
    assert response.status_code == 302, response.content.decode()[:2000]
    page = client.get(response["Location"]).content.decode()
    return [
        " ".join(re.sub(r"<[^>]+>", "", m).split())
        for m in re.findall(r'<ul class="messagelist">(.*?)</ul>', page, re.S)[0].split("</li>")
        if m.strip()
    ]


@pytest.fixture
def describe_calls(monkeypatch):
    """Every DescribeVpcPeeringConnections the portal makes, by peering ID."""
    calls = []
    real = aws.Ec2.describe_peering

    def counted(self, peering_id):
        calls.append(peering_id)
        return real(self, peering_id)

    monkeypatch.setattr(aws.Ec2, "describe_peering", counted)
    return calls


# --- 1. where staff land ---


def test_it_sends_staff_to_the_admin_after_login(client, support):
    response = client.post(reverse("login"), {"username": "sam", "password": "pw-sam"})
    assert response["Location"] == reverse("admin:index")


def test_it_keeps_sending_customers_to_their_deployments(client, owner):
    response = client.post(reverse("login"), {"username": "olivia", "password": "pw-olivia"})
    assert response["Location"] == reverse("deployment-list")


def test_a_next_parameter_still_wins_for_staff(client, support):
    audit_page = reverse("audit-log")
    response = client.post(
        f"{reverse('login')}?next={audit_page}", {"username": "sam", "password": "pw-sam"}
    )
    assert response["Location"] == audit_page


# --- 2. the peering list ---


def test_the_list_shows_the_status_first_as_a_badge(client, support, deployment):
    add_peering(deployment, 1, status="failed")
    client.force_login(support)
    page = client.get(PEERINGS).content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-([\w_]+)', page)
    assert headers == [
        "status_column",
        "peering_id",
        "deployment",
        "organization_name",
        "customer_vpc_id",
        "changed",
    ]
    assert '<span class="status-badge status-failed">failed</span>' in page
    assert "support-admin.css" in page


def test_the_badge_is_escaped():
    html = peerings_admin.status_badge('"><script>x</script>')
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_the_list_asks_aws_nothing(client, support, deployment, describe_calls):
    add_peering(deployment, 1)
    client.force_login(support)
    assert client.get(PEERINGS).status_code == 200
    assert describe_calls == []


def test_the_list_shows_a_badge_for_every_status(client, support, organization):
    statuses = ["pending", "provisioning", "running", "failed", "deleting", "deleted"]
    for n, status in enumerate([*statuses, "peer_deleted"]):
        deployment = make_deployment(organization, name=f"d{n}", vpc_id=f"vpc-{n:017x}")
        add_peering(deployment, n, status=status)
    client.force_login(support)
    page = client.get(PEERINGS).content.decode()
    for status in [*statuses, "peer_deleted"]:
        assert f'class="status-badge status-{status}"' in page


# --- 3. a peering's page ---


def test_the_page_shows_the_live_aws_state_from_one_call(
    client, support, aws_deployment, describe_calls
):
    peering = aws_request_row(aws_deployment)
    assert services.provision(peering.pk) == "running"
    describe_calls.clear()
    client.force_login(support)
    page = client.get(change_page(peering)).content.decode()
    assert describe_calls == [peering.peering_id]
    assert re.search(
        r'id="aws-state".*?<span class="status-badge aws-active">active</span>', page, re.S
    )


def test_the_page_says_when_aws_does_not_know_the_connection(client, support, aws_deployment):
    peering = add_peering(aws_deployment, 1)  # never requested in the simulator
    client.force_login(support)
    page = client.get(change_page(peering)).content.decode()
    assert "aws-missing" in page
    assert "AWS does not know this peering connection in us-east-1" in page


def test_the_page_explains_when_aws_could_not_be_reached(client, support, deployment, monkeypatch):
    def silent(self, peering_id):
        raise aws.AwsUnavailable("AWS did not answer in time.", code="ConnectTimeoutError")

    monkeypatch.setattr(aws.Ec2, "describe_peering", silent)
    peering = add_peering(deployment, 1)
    client.force_login(support)
    response = client.get(change_page(peering))
    assert response.status_code == 200
    assert "Not known: AWS did not answer (ConnectTimeoutError)." in response.content.decode()


def test_the_page_shows_the_peerings_audit_trail_newest_first_and_capped(
    client, support, deployment, monkeypatch
):
    monkeypatch.setattr(aws.Ec2, "describe_peering", lambda self, peering_id: None)
    peering = add_peering(deployment, 1)
    other = add_peering(deployment, 2)
    audit.record("peering.created", target=other, message="not this one")
    for n in range(peerings_admin.AUDIT_TRAIL_MAX + 5):
        audit.record("peering.resynced", target=peering, message=f"event {n}")
    client.force_login(support)
    page = client.get(change_page(peering)).content.decode()
    trail = re.search(r'id="audit-trail".*?</table>', page, re.S).group(0)
    shown = re.findall(r"event (\d+)", trail)
    newest = peerings_admin.AUDIT_TRAIL_MAX + 4
    assert shown == [str(n) for n in range(newest, 4, -1)]
    assert "not this one" not in trail
    assert "all of them in the audit log" in page


def test_the_page_lists_the_peerings_support_requests(
    client, support, member, deployment, monkeypatch
):
    monkeypatch.setattr(aws.Ec2, "describe_peering", lambda self, peering_id: None)
    peering = add_peering(deployment, 1, status="failed", status_reason_code="aws_rejected")
    request = services.ask_support(peering, user=member, words="<i>help</i>")
    client.force_login(support)
    page = client.get(change_page(peering)).content.decode()
    section = re.search(r'id="support-requests".*?</table>', page, re.S).group(0)
    assert reverse("admin:peerings_supportrequest_change", args=[request.pk]) in section
    assert "&lt;i&gt;help&lt;/i&gt;" in section
    assert "support-open" in section
    # The support events are in the peering's own trail too.
    assert 'data-action="support.requested"' in page


def test_the_page_offers_retry_for_a_failed_peering_and_resync_always(
    client, support, deployment, monkeypatch
):
    monkeypatch.setattr(aws.Ec2, "describe_peering", lambda self, peering_id: None)
    failed = add_peering(deployment, 1, status="failed")
    running = add_peering(deployment, 2)
    client.force_login(support)
    failed_page = client.get(change_page(failed)).content.decode()
    assert f'action="{button_url(failed, "retry")}"' in failed_page
    assert f'action="{button_url(failed, "resync")}"' in failed_page
    running_page = client.get(change_page(running)).content.decode()
    assert "peering-retry" not in running_page
    assert f'action="{button_url(running, "resync")}"' in running_page


def test_staff_without_the_permissions_see_no_buttons_and_cannot_post_them(
    client, deployment, monkeypatch
):
    monkeypatch.setattr(aws.Ec2, "describe_peering", lambda self, peering_id: None)
    staff = get_user_model().objects.create_user("vic", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_peeringconnection"))
    failed = add_peering(deployment, 1, status="failed", retryable=True)
    client.force_login(staff)
    page = client.get(change_page(failed)).content.decode()
    assert "peering-retry" not in page and "peering-resync" not in page
    assert client.post(button_url(failed, "retry")).status_code == 403
    assert client.post(button_url(failed, "resync")).status_code == 403
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_the_buttons_take_post_only_and_a_known_peering(client, support, deployment):
    peering = add_peering(deployment, 1, status="failed", retryable=True)
    client.force_login(support)
    assert client.get(button_url(peering, "retry")).status_code == 405
    assert client.get(button_url(peering, "resync")).status_code == 405
    assert client.post(f"{PEERINGS}987654/retry/").status_code == 404
    assert client.post(f"{PEERINGS}abc/retry/").status_code == 404
    peering.refresh_from_db()
    assert peering.status == "failed"


def test_the_buttons_need_a_csrf_token(support, deployment):
    peering = add_peering(deployment, 1, status="failed", retryable=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(support)
    assert client.post(button_url(peering, "retry")).status_code == 403
    peering.refresh_from_db()
    assert peering.status == "failed"


# --- 4. what the messages say ---


@committing
def test_retry_says_the_peering_is_running_now(client, support, aws_deployment):
    peering = aws_request_row(aws_deployment, status="failed", retryable=True)
    client.force_login(support)
    said = messages_of(client, client.post(button_url(peering, "retry")))
    assert said == ["Retried 1 peering; it is running now."]
    peering.refresh_from_db()
    assert peering.status == "running"
    assert AuditEvent.objects.get(action="peering.retried").actor_id == support.pk


@committing
def test_retry_says_the_peering_failed_again_and_why(client, support, aws_deployment):
    # The row names a VPC other than the one the request in AWS comes from.
    peering = aws_request_row(
        aws_deployment, customer_vpc_id="vpc-0123456789abcdef0", status="failed", retryable=True
    )
    client.force_login(support)
    said = messages_of(client, client.post(button_url(peering, "retry")))
    peering.refresh_from_db()
    assert peering.status == "failed"
    assert said == [f"Retried 1 peering; it failed again: {peering.status_reason.rstrip('.')}."]
    assert "comes from VPC" in said[0]


def test_retry_says_it_is_queued_while_the_worker_has_not_tried(
    client, support, deployment, django_capture_on_commit_callbacks
):
    peering = add_peering(deployment, 1, status="failed", retryable=True)
    client.force_login(support)
    with django_capture_on_commit_callbacks(execute=False):  # a cluster, not yet run
        said = messages_of(client, client.post(button_url(peering, "retry")))
    assert said == [
        "Retried 1 peering; it is pending: queued; its status shows here when the worker has tried."
    ]


def test_retry_says_why_a_peering_was_not_retried(client, support, deployment):
    stuck = add_peering(deployment, 1, status="failed", retryable=False)
    running = add_peering(deployment, 2)
    client.force_login(support)
    said = messages_of(
        client,
        client.post(PEERINGS, {"action": "retry", "_selected_action": [stuck.pk, running.pk]}),
    )
    assert len(said) == 2
    assert any(
        m.startswith(f"Peering {running.peering_id} was not retried: it is running") for m in said
    )
    assert any(
        m.startswith(f"Peering {stuck.peering_id} was not retried: a retry cannot succeed")
        and "cause fixed" in m
        for m in said
    )


@committing
def test_a_retry_of_several_peerings_tells_each_outcome(client, support, aws_deployment):
    good = aws_request_row(aws_deployment, cidr="172.16.8.0/24", status="failed", retryable=True)
    bad = aws_request_row(
        aws_deployment,
        cidr="172.16.9.0/24",
        customer_vpc_id="vpc-0123456789abcdef0",
        status="failed",
        retryable=True,
    )
    client.force_login(support)
    said = messages_of(
        client, client.post(PEERINGS, {"action": "retry", "_selected_action": [good.pk, bad.pk]})
    )
    assert "Retried 2 peerings." in said
    assert f"Peering {good.peering_id}: it is running now." in said
    assert any(m.startswith(f"Peering {bad.peering_id}: it failed again: ") for m in said)


def test_resync_says_the_peering_matches_aws(client, support, aws_deployment):
    peering = aws_request_row(aws_deployment)
    assert services.provision(peering.pk) == "running"
    client.force_login(support)
    said = messages_of(client, client.post(button_url(peering, "resync")))
    assert said == ["Re-synced 1 peering; it matches AWS."]
    assert AuditEvent.objects.get(action="peering.resynced").actor_id == support.pk


def test_resync_says_what_it_found_and_did(client, support, aws_deployment):
    peering = aws_request_row(aws_deployment)
    assert services.provision(peering.pk) == "running"
    aws.Ec2("us-east-1", settings.DEMO_CUSTOMER_ACCOUNT_ID).delete_peering(peering.peering_id)
    client.force_login(support)
    said = messages_of(client, client.post(button_url(peering, "resync")))
    assert said == [
        "Re-synced 1 peering; AWS has the connection deleted; marked peer_deleted and "
        "removed our routes and rules."
    ]


def test_resync_says_when_aws_could_not_be_checked(client, support, deployment, monkeypatch):
    def throttled(self, peering_id):
        raise aws.AwsUnavailable("busy", code="RequestLimitExceeded")

    monkeypatch.setattr(aws.Ec2, "describe_peering", throttled)
    peering = add_peering(deployment, 1)
    client.force_login(support)
    said = messages_of(
        client,
        client.post(PEERINGS, {"action": "resync_from_aws", "_selected_action": [peering.pk]}),
    )
    assert said == [
        "Re-synced 1 peering; AWS could not be checked: AWS did not answer (RequestLimitExceeded)."
    ]


# --- 5. a malformed selected ID is the client's mistake ---


def ours():
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if type(model_admin).__module__.split(".")[0] in ("core", "peerings", "webhooks")
    ]


def test_every_admin_of_ours_checks_the_selected_ids():
    assert len(ours()) >= 8
    for model, model_admin in ours():
        assert isinstance(model_admin, SelectedIdsChecked), model


MALFORMED = ["abc", "", "1.5", "1 OR 1=1", "99999999999999999999", "-99999999999999999999"]


@pytest.mark.parametrize("value", MALFORMED)
def test_a_malformed_selected_id_is_a_400_in_every_admin_with_actions(
    client, superuser, deployment, value
):
    add_peering(deployment, 1)
    client.force_login(superuser)
    checked = 0
    for model, model_admin in ours():
        request = RequestFactory().get("/")
        request.user = superuser
        actions = model_admin.get_actions(request)
        if not actions:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        action = next(iter(actions))
        response = client.post(url, {"action": action, "_selected_action": ["1", value]})
        assert response.status_code == 400, (model, action, response.status_code)
        checked += 1
    assert checked >= 3  # peerings (retry, re-sync), users and groups (delete)


@pytest.mark.parametrize(
    "value",
    [
        "9223372036854775808",  # one past PostgreSQL's bigint: "bigint out of range" there
        "-9223372036854775809",
        "1\x00",  # PostgreSQL refuses a NUL in any string it is sent
    ],
)
def test_a_selected_id_the_database_itself_would_refuse_is_a_400_and_leaves_it_usable(
    client, support, deployment, value
):
    # On PostgreSQL a refused query aborts the request's transaction; on SQLite an
    # out-of-range integer raises OverflowError in the driver. Checked before either.
    peering = add_peering(deployment, 1, status="failed", retryable=True)
    client.force_login(support)
    response = client.post(PEERINGS, {"action": "retry", "_selected_action": [value]})
    assert response.status_code == 400
    with connection.cursor():  # the connection still answers
        assert PeeringConnection.objects.get(pk=peering.pk).status == "failed"
    assert not AuditEvent.objects.filter(action="peering.retried").exists()


def test_well_formed_ids_still_run_the_action(client, support, deployment):
    peering = add_peering(deployment, 1, status="failed", retryable=True)
    client.force_login(support)
    response = client.post(PEERINGS, {"action": "retry", "_selected_action": [f" {peering.pk} "]})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="peering.retried").exists()


def test_a_malformed_id_in_a_support_requests_address_is_not_a_500(client, support):
    client.force_login(support)
    assert client.get("/admin/peerings/supportrequest/abc/change/").status_code in (302, 404)
    assert not SupportRequest.objects.exists()
