"""The support staff's admin: Support reads everything and runs Retry and Re-sync from AWS,
changes nothing; superusers' changes are audited; the audit log itself is read-only; and
every changelist runs a fixed number of queries."""

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from core import admin as core_admin
from core import audit, checkpoints
from core.models import AuditCheckpoint, AuditEvent, Membership, Organization
from peerings import admin as peerings_admin
from peerings import aws, services
from peerings.models import Deployment, PeeringConnection, Resource
from peerings.services import reconciling
from tests.support.audit import all_events_text
from tests.support.aws import VENDOR, customer_ec2, routes_to, rules_for, vendor_ec2
from tests.support.factories import (
    confirmed,
    make_deployment,
    make_peering,
    make_resource,
    provisioned,
)
from tests.support.web import queries_for

pytestmark = pytest.mark.django_db

MODELS = ["organization", "deployment", "peeringconnection", "resource", "auditevent"]
PEERINGS = "/admin/peerings/peeringconnection/"


# Organizations and the audit log are the core app's; the rest is peerings'.
CORE_MODELS = {"organization", "membership", "auditevent"}


def app_of(model):
    return "core" if model in CORE_MODELS else "peerings"


def changelist(model):
    return f"/admin/{app_of(model)}/{model}/"


def change_page(model, pk):
    return f"/admin/{app_of(model)}/{model}/{pk}/change/"


def delete_page(model, pk):
    return f"/admin/{app_of(model)}/{model}/{pk}/delete/"


def add_page(model):
    return f"/admin/{app_of(model)}/{model}/add/"


def assert_no_password_hash_in_the_log():
    text = all_events_text()
    for password in get_user_model().objects.values_list("password", flat=True):
        assert password not in text
        assert password.split("$")[-1] not in text  # nor the bare digest


@pytest.fixture
def one_of_each(organization, owner, deployment):
    peering = make_peering(deployment)
    resource = make_resource(peering, "orders-db")
    event = audit.record("peering.created", target=peering, message="seen by support")
    return {
        "organization": organization,
        "deployment": deployment,
        "peeringconnection": peering,
        "resource": resource,
        "auditevent": event,
    }


def shown(response):
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


# --- 1. the Support group ---


def test_the_support_group_may_view_everything_and_retry_resync_and_revoke_only(db):
    group = Group.objects.get(name="Support")
    granted = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert granted == {
        ("core", "view_organization"),
        ("core", "view_membership"),
        ("core", "view_auditevent"),
        ("peerings", "view_deployment"),
        ("peerings", "view_peeringconnection"),
        ("peerings", "view_resource"),
        ("peerings", "retry_peering"),
        ("peerings", "resync_peering"),
        ("peerings", "view_supportrequest"),
        # Answering and closing, through the services only (tests/test_support_requests.py).
        ("peerings", "change_supportrequest"),
        ("webhooks", "view_webhookendpoint"),
        ("webhooks", "view_webhookdelivery"),
        ("webhooks", "view_webhookattempt"),
        # Keys: seen, and revoked when one leaked (tests/test_api_key_admin.py).
        ("api", "view_apikey"),
        ("api", "revoke_apikey"),
    }
    assert not [
        c
        for _app, c in granted
        if c.startswith(("add_", "change_", "delete_")) and c != "change_supportrequest"
    ]
    # The migration made the permission before Django's own pass; that pass reused it.
    assert Permission.objects.filter(codename="retry_peering").count() == 1


def test_a_support_user_has_exactly_the_groups_permissions(support):
    assert support.has_perm("peerings.view_peeringconnection")
    assert support.has_perm("peerings.retry_peering")
    assert support.has_perm("peerings.resync_peering")
    assert support.has_perm("core.view_auditevent")
    for permission in (
        "peerings.change_peeringconnection",
        "peerings.delete_peeringconnection",
        "peerings.add_deployment",
        "core.change_auditevent",
        "core.delete_auditevent",
        "core.change_organization",
    ):
        assert not support.has_perm(permission)


# --- 2. Support reads, never writes ---


@pytest.mark.parametrize("model", MODELS)
def test_support_can_open_each_changelist_without_a_bulk_delete(
    client, support, one_of_each, model
):
    client.force_login(support)
    response = client.get(changelist(model))
    assert one_of_each[model] in shown(response)
    assert 'value="delete_selected"' not in response.content.decode()


@pytest.mark.parametrize("model", MODELS)
def test_support_sees_each_change_page_read_only(client, support, one_of_each, model):
    client.force_login(support)
    obj = one_of_each[model]
    response = client.get(change_page(model, obj.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="_save"' not in page
    assert 'name="_continue"' not in page
    assert escape(str(obj)) in page


@pytest.mark.parametrize("model", MODELS)
def test_support_cannot_post_a_change(client, support, one_of_each, model):
    client.force_login(support)
    obj = one_of_each[model]
    before = model_to_values(obj)
    response = client.post(change_page(model, obj.pk), {"name": "hacked", "_save": "Save"})
    assert response.status_code == 403
    assert model_to_values(type(obj).objects.get(pk=obj.pk)) == before


def model_to_values(obj):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


@pytest.mark.parametrize("model", MODELS)
def test_support_cannot_delete(client, support, one_of_each, model):
    client.force_login(support)
    obj = one_of_each[model]
    assert client.get(delete_page(model, obj.pk)).status_code == 403
    assert client.post(delete_page(model, obj.pk), {"post": "yes"}).status_code == 403
    response = client.post(
        changelist(model),
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert type(obj).objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize("model", MODELS)
def test_support_cannot_add(client, support, one_of_each, model):
    client.force_login(support)
    assert client.get(add_page(model)).status_code == 403
    count = type(one_of_each[model]).objects.count()
    response = client.post(add_page(model), {"name": "new-org"})
    assert response.status_code == 403
    assert type(one_of_each[model]).objects.count() == count


def test_support_sees_an_organizations_members_but_not_the_users_admin(
    client, support, one_of_each, viewer
):
    client.force_login(support)
    page = client.get(change_page("organization", one_of_each["organization"].pk))
    assert "olivia" in page.content.decode()
    assert "vera" in page.content.decode()
    assert client.get("/admin/auth/user/").status_code == 403
    assert client.get("/admin/auth/group/").status_code == 403


@pytest.fixture
def two_peerings(organization, outsider):
    mine = make_deployment(organization, name="orders")
    other_org = outsider.memberships.get().organization
    theirs = make_deployment(
        other_org,
        name="telemetry",
        plan=Deployment.Plan.ENTERPRISE,
        region="eu-west-1",
        vpc_id="vpc-0ffffffffffffffff",
    )
    running = make_peering(mine)
    failed = make_peering(
        theirs, PeeringConnection.Status.FAILED, n=2, customer_account_id="111122223333"
    )
    return running, failed


def test_support_finds_a_peering_by_pcx_vpc_account_and_organization(client, support, two_peerings):
    running, failed = two_peerings
    client.force_login(support)
    for term in (running.peering_id, running.customer_vpc_id, running.customer_account_id, "Acme"):
        assert shown(client.get(PEERINGS, {"q": term})) == [running], term
    for term in (failed.peering_id, failed.customer_vpc_id, "111122223333", "Other Corp"):
        assert shown(client.get(PEERINGS, {"q": term})) == [failed], term
    assert shown(client.get(PEERINGS, {"q": "pcx-fffffffffffffffff"})) == []


def test_support_filters_peerings_by_status_plan_and_region(client, support, two_peerings):
    running, failed = two_peerings
    client.force_login(support)
    assert shown(client.get(PEERINGS, {"status__exact": "running"})) == [running]
    assert shown(client.get(PEERINGS, {"status__exact": "failed"})) == [failed]
    assert shown(client.get(PEERINGS, {"deployment__plan__exact": "dedicated"})) == [running]
    assert shown(client.get(PEERINGS, {"deployment__plan__exact": "enterprise"})) == [failed]
    assert shown(client.get(PEERINGS, {"deployment__region__exact": "us-east-1"})) == [running]
    assert shown(client.get(PEERINGS, {"deployment__region__exact": "eu-west-1"})) == [failed]


# --- 3. Retry and Re-sync from AWS, as support ---


def run_action(client, action, *peerings):
    return client.post(PEERINGS, {"action": action, "_selected_action": [p.pk for p in peerings]})


def test_support_retries_a_failed_peering_to_running(
    client, support, aws_deployment, django_capture_on_commit_callbacks
):
    peering = confirmed(
        aws_deployment,
        status=PeeringConnection.Status.FAILED,
        retryable=True,
        status_reason_code="aws_rejected",
    )
    client.force_login(support)
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(client, "retry", peering)
    assert response.status_code == 302
    peering.refresh_from_db()
    assert peering.status == "running"
    tables = routes_to(aws_deployment, peering)
    assert len(tables) == 2
    assert all(r == ["172.16.8.0/24"] for r in tables.values())
    retried = AuditEvent.objects.get(action="peering.retried")
    assert retried.actor_id == support.pk
    assert retried.actor_name == "sam"
    assert retried.source == "admin"
    assert retried.target_id == str(peering.pk)
    assert retried.before["status"] == "failed"
    running = AuditEvent.objects.get(action="peering.running")
    assert (running.actor_id, running.source, running.request_id) == (
        support.pk,
        "task",
        retried.request_id,
    )


def test_retry_skips_a_peering_that_cannot_be_retried(
    client, support, aws_deployment, django_capture_on_commit_callbacks
):
    peering = confirmed(
        aws_deployment,
        status=PeeringConnection.Status.FAILED,
        retryable=False,
        status_reason_code="request_rejected",
        status_reason_params={"peering_id": "pcx-0"},
    )
    client.force_login(support)
    with django_capture_on_commit_callbacks(execute=True):
        run_action(client, "retry", peering)
    peering.refresh_from_db()
    assert peering.status == "failed"
    assert not AuditEvent.objects.filter(action="peering.retried").exists()


def test_staff_without_the_retry_permission_cannot_run_it(
    client, organization, deployment, django_capture_on_commit_callbacks
):
    staff = get_user_model().objects.create_user("vic", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_peeringconnection"))
    peering = make_peering(deployment, PeeringConnection.Status.FAILED)
    PeeringConnection.objects.filter(pk=peering.pk).update(retryable=True)
    client.force_login(staff)
    assert 'value="retry"' not in client.get(PEERINGS).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        run_action(client, "retry", peering)
    peering.refresh_from_db()
    assert peering.status == "failed"
    assert not AuditEvent.objects.filter(action="peering.retried").exists()


@pytest.fixture
def running_peering(aws_deployment):
    peering = provisioned(aws_deployment)
    assert all(r == ["172.16.8.0/24"] for r in routes_to(aws_deployment, peering).values())
    assert rules_for(aws_deployment, "172.16.8.0/24") == [1883, 8883]
    return peering


def test_resync_marks_a_peering_the_customer_deleted_and_cleans_up(
    client, support, aws_deployment, running_peering
):
    peering = running_peering
    customer_ec2().delete_peering(peering.peering_id)
    client.force_login(support)
    response = run_action(client, "resync_from_aws", peering)
    assert response.status_code == 302
    peering.refresh_from_db()
    assert peering.status == "peer_deleted"
    assert all(r == [] for r in routes_to(aws_deployment, peering).values())
    assert rules_for(aws_deployment, "172.16.8.0/24") == []
    for action in ("peering.resynced", "peering.peer_deleted"):
        event = AuditEvent.objects.get(action=action)
        assert event.actor_id == support.pk, action
        assert event.source == "admin", action
        assert event.target_id == str(peering.pk), action
    resynced = AuditEvent.objects.get(action="peering.resynced")
    assert resynced.after["status"] == "peer_deleted"
    assert resynced.after["findings"]


def test_resync_puts_back_a_vendor_route_deleted_behind_our_back(
    client, support, aws_deployment, running_peering
):
    peering = running_peering
    table = next(iter(routes_to(aws_deployment, peering)))
    vendor_ec2().ec2.delete_route(RouteTableId=table, DestinationCidrBlock="172.16.8.0/24")
    assert routes_to(aws_deployment, peering)[table] == []
    client.force_login(support)
    response = run_action(client, "resync_from_aws", peering)
    assert response.status_code == 302
    peering.refresh_from_db()
    assert peering.status == "running"
    assert all(r == ["172.16.8.0/24"] for r in routes_to(aws_deployment, peering).values())
    resynced = AuditEvent.objects.get(action="peering.resynced")
    assert (resynced.actor_id, resynced.source) == (support.pk, "admin")
    assert len(resynced.after["findings"]) == 1
    assert resynced.after["findings"][0]["params"]["route_table_id"] == table


def test_resync_of_a_peering_that_matches_aws_finds_nothing(client, support, running_peering):
    client.force_login(support)
    run_action(client, "resync_from_aws", running_peering)
    resynced = AuditEvent.objects.get(action="peering.resynced")
    assert resynced.after["findings"] == []
    assert resynced.after["aws_status"] == "active"


def test_a_large_resync_is_queued_and_credited_to_the_support_engineer(
    client, support, aws_deployment, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(reconciling, "RESYNC_IN_REQUEST_LIMIT", 1)
    first = confirmed(aws_deployment, cidr="172.16.8.0/24")
    second = confirmed(aws_deployment, cidr="172.16.9.0/24")
    for peering in (first, second):
        assert services.provision(peering.pk) == "running"
    customer_ec2().delete_peering(second.peering_id)
    client.force_login(support)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = run_action(client, "resync_from_aws", first, second)
    assert len(queued) == 2
    assert not AuditEvent.objects.filter(action="peering.resynced").exists()  # not yet
    assert "queued" in client.get(response.url).content.decode()
    for callback in queued:  # what the cluster does
        callback()
    second.refresh_from_db()
    assert second.status == "peer_deleted"
    resynced = AuditEvent.objects.filter(action="peering.resynced")
    assert sorted(e.target_id for e in resynced) == sorted([str(first.pk), str(second.pk)])
    assert {(e.actor_id, e.source) for e in resynced} == {(support.pk, "task")}


def test_a_queued_resync_that_aws_does_not_answer_says_so_in_the_audit_log(
    client, support, aws_deployment, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(reconciling, "RESYNC_IN_REQUEST_LIMIT", 0)
    peering = confirmed(aws_deployment, status=PeeringConnection.Status.RUNNING)

    def throttled(self, peering_id):
        raise aws.AwsUnavailable("AWS is throttling", code="RequestLimitExceeded")

    monkeypatch.setattr(aws.Ec2, "describe_peering", throttled)
    client.force_login(support)
    with django_capture_on_commit_callbacks(execute=True):
        run_action(client, "resync_from_aws", peering)
    failed = AuditEvent.objects.get(action="peering.resync_failed")
    assert failed.after == {"aws_error": "RequestLimitExceeded"}
    assert (failed.actor_id, failed.source) == (support.pk, "task")
    assert failed.target_id == str(peering.pk)


def test_a_queued_resync_of_a_peering_gone_meanwhile_does_nothing(aws_deployment):
    from peerings import tasks

    assert tasks.resync_peering(987654, {"name": "sam"}) == "gone meanwhile"


# --- 4. superusers' changes are audited ---


class _FormValues(HTMLParser):
    """What a browser would submit from the admin's change form: every named input, select
    and textarea with its current value (hidden "initial-" fields included)."""

    def __init__(self):
        super().__init__()
        self.values, self._select, self._textarea = {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.values.setdefault(name, []).append(attrs.get("value", "on"))
            else:
                self.values[name] = [attrs.get("value") or ""]
        elif tag == "select" and name:
            self._select = name
            self.values.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            self.values[self._select].append(attrs.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = [""]

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea][0] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            # Browsers drop the newline that Django writes right after <textarea>.
            text = self.values[self._textarea][0]
            self.values[self._textarea][0] = text.removeprefix("\n")
            self._textarea = None


def change_form(client, url, **changes):
    """GET the change page and return its form as a browser would POST it, with changes."""
    response = client.get(url)
    assert response.status_code == 200
    parser = _FormValues()
    parser.feed(response.content.decode())
    values = {k: v for k, v in parser.values.items() if k != "csrfmiddlewaretoken"}
    values.update({k: [v] if isinstance(v, str) else v for k, v in changes.items()})
    values["_save"] = ["Save"]
    return values


def test_a_superusers_change_to_a_deployment_is_audited_with_before_and_after(
    client, superuser, organization
):
    deployment = make_deployment(organization, created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    client.force_login(superuser)
    url = change_page("deployment", deployment.pk)
    response = client.post(url, change_form(client, url, name="orders-renamed"))
    assert response.status_code == 302, response.content.decode()[:3000]
    deployment.refresh_from_db()
    assert deployment.name == "orders-renamed"
    (event,) = AuditEvent.objects.filter(action__startswith="admin.")
    assert event.action == "admin.deployment.changed"
    assert event.before == {"name": "orders"}
    assert event.after == {"name": "orders-renamed"}
    assert event.actor_id == superuser.pk
    assert event.actor_name == "root"
    assert event.source == "admin"
    assert event.target_id == str(deployment.pk)
    assert event.organization_id == organization.pk


def test_a_superuser_deleting_a_resource_is_audited(client, superuser, one_of_each):
    resource = one_of_each["resource"]
    client.force_login(superuser)
    response = client.post(delete_page("resource", resource.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Resource.objects.filter(pk=resource.pk).exists()
    event = AuditEvent.objects.get(action="admin.resource.deleted")
    assert (event.actor_id, event.source) == (superuser.pk, "admin")
    assert event.target_id == str(resource.pk)
    assert event.before == {"object": "orders-db"}
    assert event.deployment_id == resource.deployment_id


def test_a_bulk_delete_in_the_admin_audits_each_row(client, superuser, one_of_each):
    first = one_of_each["resource"]
    second = make_resource(first.peering, "cache", host="172.16.1.11", port=6379, kind="redis")
    client.force_login(superuser)
    response = client.post(
        changelist("resource"),
        {"action": "delete_selected", "post": "yes", "_selected_action": [first.pk, second.pk]},
    )
    assert response.status_code == 302
    assert not Resource.objects.exists()
    deleted = AuditEvent.objects.filter(action="admin.resource.deleted")
    assert sorted(e.target_id for e in deleted) == sorted([str(first.pk), str(second.pk)])
    assert {e.actor_id for e in deleted} == {superuser.pk}


def test_a_bulk_delete_of_groups_in_the_admin_is_audited(client, superuser):
    first, second = Group.objects.create(name="a"), Group.objects.create(name="b")
    client.force_login(superuser)
    client.post(
        "/admin/auth/group/",
        {"action": "delete_selected", "post": "yes", "_selected_action": [first.pk, second.pk]},
    )
    assert not Group.objects.filter(pk__in=[first.pk, second.pk]).exists()
    events = AuditEvent.objects.filter(action="admin.group.deleted")
    assert sorted(e.after["object"] for e in events) == ["a", "b"]
    assert {e.actor_id for e in events} == {superuser.pk}


def test_a_change_to_a_user_is_audited_without_the_password_hash(client, superuser, owner):
    client.force_login(superuser)
    url = f"/admin/auth/user/{owner.pk}/change/"
    response = client.post(url, change_form(client, url, first_name="Olivia"))
    assert response.status_code == 302, response.content.decode()[:3000]
    owner.refresh_from_db()
    assert owner.first_name == "Olivia"
    (event,) = AuditEvent.objects.filter(action__startswith="admin.")
    assert event.action == "admin.user.changed"
    assert (event.actor_id, event.source) == (superuser.pk, "admin")
    assert (event.target_type, event.target_id) == ("User", str(owner.pk))
    assert "First name" in event.message
    assert (event.before, event.after) == ({}, {})  # no privilege changed
    assert_no_password_hash_in_the_log()


def user_page(user):
    return f"/admin/auth/user/{user.pk}/change/"


def test_granting_superuser_and_the_support_group_in_the_admin_is_audited_with_before_and_after(
    client, superuser, owner
):
    support_group = Group.objects.get(name="Support")
    client.force_login(superuser)
    url = user_page(owner)
    response = client.post(
        url, change_form(client, url, is_superuser="on", groups=[str(support_group.pk)])
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    owner.refresh_from_db()
    assert owner.is_superuser and list(owner.groups.all()) == [support_group]
    (event,) = AuditEvent.objects.filter(action__startswith="admin.")  # one per save
    assert event.action == "admin.user.changed"
    assert event.before == {"is_superuser": False, "groups": []}
    assert event.after == {"is_superuser": True, "groups": ["Support"]}
    assert (event.actor_id, event.source) == (superuser.pk, "admin")
    assert (event.target_type, event.target_id, event.target_repr) == (
        "User",
        str(owner.pk),
        "olivia",
    )
    assert_no_password_hash_in_the_log()


def test_removing_staff_a_group_and_a_permission_in_the_admin_is_audited_with_before_and_after(
    client, superuser, support
):
    support.user_permissions.add(Permission.objects.get(codename="view_membership"))
    client.force_login(superuser)
    url = user_page(support)
    form = change_form(client, url)
    del form["is_staff"], form["groups"], form["user_permissions"]  # all unticked
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    (event,) = AuditEvent.objects.filter(action__startswith="admin.")
    assert event.before == {
        "is_staff": True,
        "groups": ["Support"],
        "user_permissions": ["view_membership"],
    }
    assert event.after == {"is_staff": False, "groups": [], "user_permissions": []}


def test_a_change_to_a_groups_permissions_in_the_admin_is_audited_with_before_and_after(
    client, superuser
):
    group = Group.objects.create(name="Auditors")
    group.permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(superuser)
    url = f"/admin/auth/group/{group.pk}/change/"
    added = Permission.objects.get(codename="view_organization")
    form = change_form(client, url)
    form["permissions"] = [*form["permissions"], str(added.pk)]
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    (event,) = AuditEvent.objects.filter(action__startswith="admin.")
    assert event.action == "admin.group.changed"
    assert event.before == {"permissions": ["view_auditevent"]}
    assert event.after == {"permissions": ["view_auditevent", "view_organization"]}
    assert (event.target_type, event.target_repr) == ("Group", "Auditors")


def test_a_password_set_in_the_admin_is_audited_without_the_password(client, superuser, owner):
    client.force_login(superuser)
    new_password = "Brand-new-Passw0rd-42"
    response = client.post(
        f"/admin/auth/user/{owner.pk}/password/",
        {"password1": new_password, "password2": new_password, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    owner.refresh_from_db()
    assert owner.check_password(new_password)
    (event,) = AuditEvent.objects.filter(action__startswith="admin.")
    assert event.action == "admin.user.changed"
    assert (event.actor_id, event.source) == (superuser.pk, "admin")
    assert event.target_id == str(owner.pk)
    assert (event.before, event.after) == ({}, {"password": "changed"})  # the fact only
    assert new_password not in all_events_text()
    assert_no_password_hash_in_the_log()


def test_a_role_change_made_in_the_organization_inline_is_audited(
    client, superuser, organization, viewer
):
    membership = Membership.objects.get(user=viewer)
    client.force_login(superuser)
    url = change_page("organization", organization.pk)
    form = change_form(client, url)
    (prefix,) = [
        k[: -len("-id")]
        for k, v in form.items()
        if k.startswith("memberships-") and k.endswith("-id") and v == [str(membership.pk)]
    ]
    form[f"{prefix}-role"] = ["owner"]
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    membership.refresh_from_db()
    assert membership.role == "owner"  # vera was made an owner ...
    # ... and the log must say so, and what she was before.
    event = AuditEvent.objects.get(action="admin.membership.changed")
    assert event.before == {"role": "viewer"}
    assert event.after == {"role": "owner"}
    assert event.target_id == str(membership.pk)
    assert "vera" in event.target_repr
    assert event.organization_id == organization.pk


def race_the_form_check(monkeypatch, peering):
    """The form sees `peering` running; before the save, it moves to `deleting`."""
    form_clean = peerings_admin.ResourceAdminForm.clean

    def clean_then_peering_leaves_running(form):
        cleaned = form_clean(form)
        PeeringConnection.objects.filter(pk=peering.pk).update(status="deleting")
        return cleaned

    monkeypatch.setattr(
        peerings_admin.ResourceAdminForm, "clean", clean_then_peering_leaves_running
    )


@pytest.mark.parametrize("change", [False, True], ids=["add", "change"])
def test_a_resource_the_database_refuses_after_the_form_check_is_an_admin_error_not_a_500(
    client, superuser, deployment, monkeypatch, change
):
    bound = make_peering(deployment)
    resource = make_resource(bound, "orders-db")
    target = make_peering(deployment, n=2)
    url = change_page("resource", resource.pk) if change else add_page("resource")
    client.force_login(superuser)
    race_the_form_check(monkeypatch, target)
    response = client.post(
        url,
        {
            "deployment": deployment.pk,
            "peering": target.pk,
            "name": "orders-db" if change else "cache",
            "kind": "redis",
            "host": "172.16.2.11",
            "port": 6379,
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    assert response.url == url
    page = client.get(response.url).content.decode()
    assert f"Nothing was saved: {target.peering_id} is deleting now" in page
    assert list(Resource.objects.values_list("name", "peering_id", "kind", "port")) == [
        ("orders-db", bound.pk, "mysql", 3306)
    ]
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize(
    ("status", "host", "field"),
    [("failed", "172.16.1.10", "peering"), ("running", "10.9.9.9", "host")],
)
def test_the_admin_refuses_a_resource_by_the_services_rules_in_their_words(
    client, superuser, deployment, status, host, field
):
    peering = make_peering(deployment, status)
    client.force_login(superuser)
    response = client.post(
        "/admin/peerings/resource/add/",
        {
            "deployment": deployment.pk,
            "peering": peering.pk,
            "name": "cache",
            "kind": "redis",
            "host": host,
            "port": 6379,
            "_save": "Save",
        },
    )
    assert response.status_code == 200
    (message,) = services.resource_problems(deployment, peering=peering, host=host)[field]
    assert escape(message) in response.content.decode()
    assert not Resource.objects.exists()


def test_the_admin_applies_the_resource_rules(client, superuser, deployment):
    peering = make_peering(deployment, "running", n=0xA, cidr="172.16.1.0/24")
    client.force_login(superuser)
    response = client.post(
        "/admin/peerings/resource/add/",
        {
            "deployment": deployment.pk,
            "peering": peering.pk,
            "name": "dns",
            "kind": "http",
            "host": "8.8.8.8",
            "port": 53,
        },
    )
    assert response.status_code == 200
    assert "outside 172.16.1.0/24" in response.content.decode()
    assert not Resource.objects.exists()


@pytest.mark.parametrize("model", ["organization", "deployment", "peeringconnection"])
def test_rows_the_audit_log_points_at_cannot_be_deleted_even_by_superusers(
    client, superuser, deployment, model
):
    peering = make_peering(deployment, "failed", n=0xE)
    obj = {
        "organization": deployment.organization,
        "deployment": deployment,
        "peeringconnection": peering,
    }[model]
    client.force_login(superuser)
    assert client.get(delete_page(model, obj.pk)).status_code == 403
    assert client.post(delete_page(model, obj.pk), {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_a_superuser_cannot_edit_a_peering_behind_the_services(client, superuser, deployment):
    peering = make_peering(deployment, "running", n=0xE)
    client.force_login(superuser)
    url = change_page("peeringconnection", peering.pk)
    client.post(url, {"peering_id": "pcx-0000000000000000f", "status": "deleted", "_save": "Save"})
    peering.refresh_from_db()
    assert (peering.peering_id, peering.status) == ("pcx-0000000000000000e", "running")


# --- 5. the audit log is read-only in the admin, even for superusers ---


def test_audit_events_are_read_only_even_for_superusers(client, superuser, one_of_each):
    event = one_of_each["auditevent"]
    client.force_login(superuser)
    assert client.get(add_page("auditevent")).status_code == 403
    assert client.post(add_page("auditevent"), {"action": "peering.created"}).status_code == 403
    page = client.get(change_page("auditevent", event.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert (
        client.post(
            change_page("auditevent", event.pk), {"message": "rewritten", "_save": "Save"}
        ).status_code
        == 403
    )
    assert client.get(delete_page("auditevent", event.pk)).status_code == 403
    assert client.post(delete_page("auditevent", event.pk), {"post": "yes"}).status_code == 403
    listing = client.get(changelist("auditevent")).content.decode()
    assert 'value="delete_selected"' not in listing
    client.post(
        changelist("auditevent"),
        {"action": "delete_selected", "post": "yes", "_selected_action": [event.pk]},
    )
    assert AuditEvent.objects.get(pk=event.pk).message == "seen by support"


def test_the_audit_log_filters_by_the_known_actions_without_a_distinct_over_the_table(
    client, support, one_of_each
):
    peering = one_of_each["peeringconnection"]
    running = audit.record("peering.running", target=peering)
    client.force_login(support)
    client.get(changelist("auditevent"))  # warm per-process caches before capturing
    with CaptureQueriesContext(connection) as queries:
        everything = client.get(changelist("auditevent"))
        filtered = client.get(changelist("auditevent") + "?action=peering.running")
    assert [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"].upper()] == []
    cl = everything.context["cl"]
    (action_filter,) = [f for f in cl.filter_specs if f.title == "action"]
    assert [c["display"] for c in action_filter.choices(cl)] == [
        "All",
        *(label for _action, label in core_admin.support_audit_actions()),
    ]
    assert {action for action, _label in audit.customer_actions()} < {
        action for action, _label in core_admin.support_audit_actions()
    }
    assert one_of_each["auditevent"] in shown(everything)
    assert shown(filtered) == [running]
    # Support's own: sign-ins and admin changes, a whole family at once.
    locked = audit.record("user.login_locked", message="locked")
    granted = audit.record("admin.user.changed", after={"is_superuser": True})
    grouped = audit.record("admin.group.changed", after={"name": "x"})
    assert shown(client.get(changelist("auditevent") + "?action=user.login_locked")) == [locked]
    assert shown(client.get(changelist("auditevent") + "?action=admin.user.*")) == [granted]
    assert set(shown(client.get(changelist("auditevent") + "?action=admin.*"))) >= {
        granted,
        grouped,
    }


# --- 6. fixed query counts ---


def populate(start, count):
    """`count` organizations, each with its own deployment, running peering, resource and
    audit event, so that any per-row lookup of a related row would show."""
    organizations = Organization.objects.bulk_create(
        Organization(name=f"org-{n}") for n in range(start, start + count)
    )
    deployments = Deployment.objects.bulk_create(
        Deployment(
            organization=o,
            name=f"dep-{n}",
            plan="dedicated",
            region="us-east-1",
            vendor_account_id=VENDOR,
            vpc_id=f"vpc-{n:017x}",
            cidr="10.20.0.0/16",
            security_group_id=f"sg-{n:017x}",
            service_ports=[1883],
        )
        for n, o in zip(range(start, start + count), organizations, strict=True)
    )
    peerings = PeeringConnection.objects.bulk_create(
        PeeringConnection(
            deployment=d,
            peering_id=f"pcx-{n:017x}",
            customer_account_id="210987654321",
            customer_vpc_id=f"vpc-{n:017x}",
            customer_cidrs=["172.16.8.0/24"],
            status="running",
        )
        for n, d in zip(range(start, start + count), deployments, strict=True)
    )
    Resource.objects.bulk_create(
        Resource(
            deployment=p.deployment,
            peering=p,
            name=f"db-{n}",
            kind="mysql",
            host="172.16.8.10",
            port=3306,
        )
        for n, p in zip(range(start, start + count), peerings, strict=True)
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(
            organization=p.deployment.organization,
            deployment=p.deployment,
            action="peering.created",
            source="web",
            actor_name="olivia",
            target_type="PeeringConnection",
            target_id=str(p.pk),
            target_repr=p.peering_id,
            hash=f"{n:064x}",
        )
        for n, p in zip(range(start, start + count), peerings, strict=True)
    )


def changelist_queries(client, model):
    client.get(changelist(model))  # warm per-process caches before counting
    queries, response = queries_for(client, changelist(model))
    rows = len(response.context["cl"].result_list)
    # One admin page (100 rows) of everything there is (logging in adds an audit event).
    assert rows == min(apps.get_model(app_of(model), model).objects.count(), 100)
    return queries, rows


@pytest.mark.parametrize("model", MODELS)
def test_each_changelist_runs_a_fixed_number_of_queries(client, superuser, model):
    client.force_login(superuser)
    populate(0, 1)
    few, rows = changelist_queries(client, model)
    assert rows <= 2
    populate(1, 199)
    many, rows = changelist_queries(client, model)
    assert rows == 100
    assert few == many


def test_operators_read_the_audit_checkpoints_and_nobody_changes_them(
    client, superuser, support, one_of_each
):

    checkpoint = checkpoints.write_checkpoint()
    url = "/admin/core/auditcheckpoint/"
    client.force_login(superuser)
    page = client.get(url).content.decode()
    assert checkpoint.head_hash in page
    assert client.get(f"{url}add/").status_code == 403
    assert client.post(f"{url}{checkpoint.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditCheckpoint.objects.filter(pk=checkpoint.pk).exists()
    client.force_login(support)  # support reads the log itself, not the operators' records
    assert client.get(url).status_code == 403
