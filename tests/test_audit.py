"""The audit log: who did what, from where, in which request; append-only and hash-chained;
nothing secret in it; and the customer's page and CSV of it, scoped to their organization."""

import csv
import io
import ipaddress
import re
import secrets
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from core import audit, login_guard
from core.models import AppendOnlyError, AuditEvent
from demo import sandbox
from demo.aws import SandboxEc2
from peerings import aws
from peerings.models import PeeringConnection, Resource
from tests.support.audit import all_events_text, behind_the_models_back, event_text
from tests.support.aws import REGION, VENDOR
from tests.support.cluster import wait_until_settled
from tests.support.factories import make_deployment
from tests.support.web import queries_for

pytestmark = pytest.mark.django_db

CLIENT_IP = "198.51.100.7"


def request_peering(client, deployment, cidr="172.16.8.0/24", **extra):
    """Play the customer in moto, then confirm the request in the dialog as the web does."""
    made = sandbox.create_customer_request(deployment, cidr=cidr)
    response = client.post(
        reverse("peering-new", args=[deployment.pk]),
        {"peering_id": made.peering_id, "account_id": made.account_id, "vpc_id": made.vpc_id},
        **extra,
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return PeeringConnection.objects.get(peering_id=made.peering_id)


def events_for(target):
    return AuditEvent.objects.filter(
        target_type=type(target).__name__, target_id=str(target.pk)
    ).order_by("id")


@pytest.fixture(autouse=True)
def _client_ip_is_a_trusted_proxy(settings):
    """The requests below stand for a load balancer at CLIENT_IP that sets X-Request-ID
    (only a trusted proxy's request ID is kept); tests about proxies set their own."""
    settings.TRUSTED_PROXIES = [ipaddress.ip_network(f"{CLIENT_IP}/32")]


# --- 1. capture: actor, source, IP, request ID ---


def test_a_web_request_and_the_work_it_queues_are_credited_to_the_person_who_asked(
    client, owner, aws_deployment, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        peering = request_peering(
            client, aws_deployment, REMOTE_ADDR=CLIENT_IP, HTTP_X_REQUEST_ID="req-abc"
        )
    peering.refresh_from_db()
    assert peering.status == "running"

    events = list(events_for(peering))
    assert [e.action for e in events] == [
        "peering.created",
        "peering.provisioning",
        "peering.running",
    ]
    created = events[0]
    assert created.source == "web"
    assert created.actor_id == owner.pk
    assert created.actor_name == "olivia"
    assert created.ip == CLIENT_IP
    assert created.request_id == "req-abc"
    assert created.organization_id == aws_deployment.organization_id
    assert created.deployment_id == aws_deployment.pk
    assert created.after["peering_id"] == peering.peering_id
    for worked in events[1:]:
        assert worked.source == "task"
        assert worked.actor_id == owner.pk
        assert worked.actor_name == "olivia"
        assert worked.request_id == "req-abc"
        assert worked.ip == CLIENT_IP


def test_adding_and_deleting_a_resource_is_audited(
    client, owner, aws_deployment, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        peering = request_peering(client, aws_deployment)
    response = client.post(
        reverse("resource-new", args=[aws_deployment.pk]),
        {
            "name": "orders-db",
            "kind": "mysql",
            "host": "172.16.8.10",
            "port": 3306,
            "peering": peering.pk,
        },
        REMOTE_ADDR=CLIENT_IP,
        HTTP_X_REQUEST_ID="req-add",
    )
    assert response.status_code == 302
    resource = Resource.objects.get(name="orders-db")
    created = AuditEvent.objects.get(action="resource.created")
    assert (created.actor_id, created.source, created.ip, created.request_id) == (
        owner.pk,
        "web",
        CLIENT_IP,
        "req-add",
    )
    assert created.target_id == str(resource.pk)
    assert created.after == {
        "name": "orders-db",
        "kind": "mysql",
        "host": "172.16.8.10",
        "port": 3306,
        "peering": peering.peering_id,
    }

    response = client.post(
        reverse("resource-delete", args=[aws_deployment.pk, resource.pk]),
        REMOTE_ADDR=CLIENT_IP,
        HTTP_X_REQUEST_ID="req-del",
    )
    assert response.status_code == 302
    assert not Resource.objects.filter(pk=resource.pk).exists()
    deleted = AuditEvent.objects.get(action="resource.deleted")
    assert (deleted.actor_id, deleted.source, deleted.ip, deleted.request_id) == (
        owner.pk,
        "web",
        CLIENT_IP,
        "req-del",
    )
    assert deleted.target_id == str(resource.pk)
    assert deleted.before["host"] == "172.16.8.10"


def test_deleting_a_peering_is_audited_from_request_to_deleted(
    client, owner, aws_deployment, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        peering = request_peering(client, aws_deployment)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("peering-delete", args=[aws_deployment.pk, peering.pk]),
            REMOTE_ADDR=CLIENT_IP,
            HTTP_X_REQUEST_ID="req-delete",
        )
    assert response.status_code == 302
    peering.refresh_from_db()
    assert peering.status == "deleted"
    requested = AuditEvent.objects.get(action="peering.delete_requested")
    deleted = AuditEvent.objects.get(action="peering.deleted")
    assert (requested.source, deleted.source) == ("web", "task")
    for event in (requested, deleted):
        assert event.actor_id == owner.pk
        assert event.request_id == "req-delete"
        assert event.ip == CLIENT_IP
        assert event.target_id == str(peering.pk)
    assert requested.before["status"] == "running"
    assert deleted.after["status"] == "deleted"


# Logins are rate-limited per (username, address) and per address, in a cache that may
# outlive one test: each test that logs in does so from its own documentation address.


def test_a_login_is_audited_with_the_user_as_actor(client, owner, settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("198.51.100.21/32")]
    response = client.post(
        reverse("login"),
        {"username": "olivia", "password": "pw-olivia"},
        REMOTE_ADDR="198.51.100.21",
        HTTP_X_REQUEST_ID="req-login",
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="user.logged_in")
    assert event.actor_id == owner.pk
    assert event.actor_name == "olivia"
    assert event.source == "web"
    assert event.ip == "198.51.100.21"
    assert event.request_id == "req-login"


def test_a_failed_login_records_the_username_and_never_the_password(client, owner):
    password = "Hunter2-correct-horse-battery"
    response = client.post(
        reverse("login"), {"username": "olivia", "password": password}, REMOTE_ADDR="198.51.100.22"
    )
    assert response.status_code == 200  # the form again, with an error
    event = AuditEvent.objects.get(action="user.login_failed")
    assert event.after["username"] == "olivia"
    assert event.ip == "198.51.100.22"
    assert event.actor_id is None
    assert password not in event_text(event)
    assert password not in all_events_text()


def test_a_failed_login_with_a_username_that_names_no_account_hides_what_was_typed(client, owner):
    # People type their password into the username field; it must not land in the log.
    typed = "Hunter2-in-the-wrong-field"
    client.post(reverse("login"), {"username": typed, "password": "x"}, REMOTE_ADDR="198.51.100.23")
    event = AuditEvent.objects.get(action="user.login_failed")
    assert event.after["username"] == login_guard.UNKNOWN_USERNAME
    assert event.ip == "198.51.100.23"
    assert typed not in all_events_text()


def test_a_logout_is_audited(client, owner):
    client.force_login(owner)
    response = client.post(reverse("logout"), REMOTE_ADDR=CLIENT_IP, HTTP_X_REQUEST_ID="req-logout")
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="user.logged_out")
    assert event.actor_id == owner.pk
    assert event.actor_name == "olivia"
    assert event.source == "web"
    assert event.ip == CLIENT_IP
    assert event.request_id == "req-logout"


# --- 2. the client's address behind proxies ---


def logout(client, user, **meta):
    """A request that records an event with the request's context and needs no login form."""
    client.force_login(user)
    response = client.post(reverse("logout"), **meta)
    assert response.status_code == 302
    return response, AuditEvent.objects.filter(action="user.logged_out").latest("id")


def ip_seen(client, user, **meta):
    return logout(client, user, **meta)[1].ip


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(client, owner, settings):
    settings.TRUSTED_PROXIES = []
    assert (
        ip_seen(client, owner, REMOTE_ADDR=CLIENT_IP, HTTP_X_FORWARDED_FOR="203.0.113.9")
        == CLIENT_IP
    )
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    assert (
        ip_seen(client, owner, REMOTE_ADDR=CLIENT_IP, HTTP_X_FORWARDED_FOR="203.0.113.9")
        == CLIENT_IP
    )


def test_x_forwarded_for_is_honoured_from_a_trusted_proxy(client, owner, settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    assert (
        ip_seen(client, owner, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9")
        == "203.0.113.9"
    )
    # Two proxies of ours: the right-most hop that is not ours is the client.
    assert (
        ip_seen(client, owner, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.1.2.3")
        == "203.0.113.9"
    )


def test_a_spoofed_forwarded_chain_yields_the_hop_our_proxy_saw(client, owner, settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    # The client wrote "1.1.1.1" itself; our proxy appended the address it really saw.
    assert (
        ip_seen(client, owner, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.9")
        == "203.0.113.9"
    )


# --- 3. request IDs ---


def test_a_request_id_is_generated_when_none_is_sent(client, owner):
    response, event = logout(client, owner)
    request_id = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert event.request_id == request_id
    again, _event = logout(client, owner)
    assert again["X-Request-ID"] != request_id


def test_a_trusted_proxys_request_id_is_kept(client, owner):
    response, event = logout(client, owner, REMOTE_ADDR=CLIENT_IP, HTTP_X_REQUEST_ID="lb-7f3a-0042")
    assert response["X-Request-ID"] == "lb-7f3a-0042"
    assert event.request_id == "lb-7f3a-0042"


def test_anyone_elses_request_id_is_replaced(client, owner):
    response, event = logout(
        client, owner, REMOTE_ADDR="203.0.113.50", HTTP_X_REQUEST_ID="planted-by-a-user"
    )
    assert response["X-Request-ID"] != "planted-by-a-user"
    assert event.request_id == response["X-Request-ID"]


@pytest.mark.parametrize(
    "given",
    [
        'abc" onmouseover="alert(1)',
        "with spaces",
        "a<b>",
        "semi;colon",
        "a" * 65,
        "line\r\nX-Injected: 1",
    ],
)
def test_a_malicious_request_id_is_replaced(client, owner, given):
    response, event = logout(client, owner, REMOTE_ADDR=CLIENT_IP, HTTP_X_REQUEST_ID=given)
    request_id = response["X-Request-ID"]
    assert request_id != given
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert event.request_id == request_id


# --- 4. a real worker process ---


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_work_done_by_a_real_worker_is_credited_to_the_person_who_asked(
    client,
    aws_deployment,
    owner,
    cluster,
):
    process, log = cluster
    client.force_login(owner)
    peering = request_peering(
        client, aws_deployment, REMOTE_ADDR=CLIENT_IP, HTTP_X_REQUEST_ID="req-worker-1"
    )
    wait_until_settled(peering, process, log)

    # The standing schedules are put off under test clusters: every event is the owner's.
    events = events_for(peering)
    assert [e.action for e in events] == [
        "peering.created",
        "peering.provisioning",
        "peering.running",
    ]
    assert [e.source for e in events] == ["web", "task", "task"]
    for event in events:
        assert event.actor_id == owner.pk
        assert event.actor_name == "olivia"
        assert event.request_id == "req-worker-1"
        assert event.ip == CLIENT_IP


# --- 5. append-only ---


def test_an_event_cannot_be_changed_or_deleted_through_the_model(organization):
    event = audit.record("peering.created", organization=organization, message="original")
    event.message = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(message="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).message == "original"


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only"
)
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE peerings_auditevent SET message = 'x'",
        "DELETE FROM peerings_auditevent",
    ],
)
def test_postgresql_refuses_raw_updates_and_deletes(organization, sql):
    event = audit.record("peering.created", organization=organization, message="original")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.get(pk=event.pk).message == "original"


# --- 6. the hash chain ---


@pytest.fixture
def chain(organization, deployment):
    return [
        audit.record("peering.created", organization=organization, message="one"),
        audit.record("resource.created", target=deployment, after={"n": 2}),
        audit.record("peering.running", organization=organization, message="three"),
        audit.record("resource.deleted", organization=organization, before={"n": 4}),
        audit.record("peering.deleted", organization=organization, message="five"),
    ]


def verify():
    out = io.StringIO()
    call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


def test_an_untouched_chain_verifies(chain):
    assert chain[1].prev_hash == chain[0].hash
    assert audit.first_broken_link() is None
    assert "intact" in verify()
    assert "5 events" in verify()


def test_unmasking_a_support_event_behind_the_models_back_breaks_the_chain(chain):
    support = audit.Actor(name="sam.engineer", source="task", by_support=True)
    event = audit.record("peering.running", actor=support, message="by support")
    assert audit.first_broken_link() is None  # older events, without the flag, still hold
    with behind_the_models_back() as cursor:
        cursor.execute(
            "UPDATE peerings_auditevent SET by_support = %s WHERE id = %s", [False, event.pk]
        )
    broken, _why = audit.first_broken_link()
    assert broken.pk == event.pk


def test_the_verifier_names_an_event_changed_behind_the_models_back(chain):
    middle = chain[2]
    with behind_the_models_back() as cursor:
        cursor.execute(
            "UPDATE peerings_auditevent SET message = %s WHERE id = %s",
            ["nothing happened here", middle.pk],
        )
    broken, why = audit.first_broken_link()
    assert broken.pk == middle.pk
    assert "changed" in why
    with pytest.raises(CommandError) as failure:
        verify()
    assert f"event {middle.pk} " in str(failure.value)
    assert "changed" in str(failure.value)


def test_a_change_whose_hash_was_recomputed_is_caught_at_the_next_link(chain):
    middle = AuditEvent.objects.get(pk=chain[2].pk)
    middle.message = "nothing happened here"
    forged = audit.event_hash(middle)
    with behind_the_models_back() as cursor:
        cursor.execute(
            "UPDATE peerings_auditevent SET message = %s, hash = %s WHERE id = %s",
            [middle.message, forged, middle.pk],
        )
    with pytest.raises(CommandError) as failure:
        verify()
    assert f"event {chain[3].pk} " in str(failure.value)


def test_the_verifier_reports_a_removed_event_at_the_next_link(chain):
    with behind_the_models_back() as cursor:
        cursor.execute("DELETE FROM peerings_auditevent WHERE id = %s", [chain[2].pk])
    broken, why = audit.first_broken_link()
    assert broken.pk == chain[3].pk
    with pytest.raises(CommandError) as failure:
        verify()
    assert f"event {chain[3].pk} " in str(failure.value)
    assert "removed" in str(failure.value)


# --- 7. nothing secret ---


@pytest.fixture
def distinctive_aws_secret(monkeypatch, simulator):
    """A secret key we can search for (moto accepts any); boto3 clients are cached, so
    rebuild them around the change."""
    secret = "awssecret" + secrets.token_hex(16)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    aws._home_client.cache_clear()
    yield secret
    aws._home_client.cache_clear()


def test_no_secret_ever_reaches_the_audit_log(
    client,
    owner,
    organization,
    settings,
    distinctive_aws_secret,
    django_capture_on_commit_callbacks,
):
    settings.SECRET_KEY = "django-secret-" + secrets.token_hex(16)
    ec2 = SandboxEc2(REGION, VENDOR)
    vpc_id, _tables, group_id = ec2.create_network("10.20.0.0/16", "orders")
    deployment = make_deployment(organization, vpc_id=vpc_id, security_group_id=group_id)

    address = {"REMOTE_ADDR": "198.51.100.23"}  # see the note on logins above
    client.post(reverse("login"), {"username": "olivia", "password": "wrong-pw-olivia"}, **address)
    assert (
        client.post(
            reverse("login"), {"username": "olivia", "password": "pw-olivia"}, **address
        ).status_code
        == 302
    )
    with django_capture_on_commit_callbacks(execute=True):
        peering = request_peering(client, deployment)
    client.post(
        reverse("resource-new", args=[deployment.pk]),
        {"name": "db", "kind": "mysql", "host": "172.16.8.10", "port": 3306, "peering": peering.pk},
    )
    resource = Resource.objects.get(name="db")
    client.post(reverse("resource-delete", args=[deployment.pk, resource.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("peering-delete", args=[deployment.pk, peering.pk]))
    peering.refresh_from_db()
    assert peering.status == "deleted"
    session_key = client.session.session_key
    client.post(reverse("logout"))

    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "user.login_failed",
        "user.logged_in",
        "peering.created",
        "peering.running",
        "resource.created",
        "resource.deleted",
        "peering.deleted",
        "user.logged_out",
    } <= actions
    text = all_events_text()
    assert settings.SECRET_KEY not in text
    assert distinctive_aws_secret not in text
    assert "pw-olivia" not in text
    for password_hash in get_user_model().objects.values_list("password", flat=True):
        assert password_hash not in text
    assert session_key not in text


# --- 8. the customer's audit page and CSV ---


@contextmanager
def frozen_at(when):
    real_now = timezone.now
    timezone.now = lambda: when
    try:
        yield
    finally:
        timezone.now = real_now


def rows(response):
    return re.findall(r'data-action="([^"]+)"', response.content.decode())


def messages_on(response):
    return re.findall(r"\b(?:own|foreign)-[\w-]+", response.content.decode())


def csv_rows(response):
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def two_orgs(organization, owner, outsider):
    foreign_org = outsider.memberships.get().organization
    mine = make_deployment(organization, name="mine")
    theirs = make_deployment(foreign_org, name="theirs", vpc_id="vpc-0ffffffffffffffff")
    for n in range(1, 4):
        audit.record("peering.created", deployment=mine, message=f"own-{n}")
    audit.record("peering.created", deployment=theirs, message="foreign-1")
    audit.record("resource.created", organization=foreign_org, message="foreign-2")
    return mine, theirs


def test_the_audit_page_shows_the_own_organization_newest_first(client, owner, two_orgs):
    client.force_login(owner)
    response = client.get(reverse("audit-log"))
    assert response.status_code == 200
    assert messages_on(response) == ["own-3", "own-2", "own-1"]


def test_the_csv_holds_only_the_own_organization(client, owner, two_orgs):
    client.force_login(owner)
    response = client.get(reverse("audit-export"))
    assert response.status_code == 200
    assert [r["message"] for r in csv_rows(response)] == ["own-3", "own-2", "own-1"]


def test_a_viewer_can_read_the_page_and_the_csv(client, viewer, two_orgs):
    client.force_login(viewer)
    assert messages_on(client.get(reverse("audit-log"))) == ["own-3", "own-2", "own-1"]
    response = client.get(reverse("audit-export"))
    assert [r["message"] for r in csv_rows(response)] == ["own-3", "own-2", "own-1"]


def test_the_outsider_sees_only_their_own_organization(client, outsider, two_orgs):
    client.force_login(outsider)
    assert messages_on(client.get(reverse("audit-log"))) == ["foreign-2", "foreign-1"]
    response = client.get(reverse("audit-export"))
    assert [r["message"] for r in csv_rows(response)] == ["foreign-2", "foreign-1"]


def test_anonymous_visitors_are_sent_to_log_in(client, two_orgs):
    for url in (reverse("audit-log"), reverse("audit-export")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_a_filter_naming_another_organizations_deployment_leaks_nothing(client, owner, two_orgs):
    _mine, theirs = two_orgs
    client.force_login(owner)
    response = client.get(reverse("audit-log"), {"deployment": theirs.pk})
    assert response.status_code == 200
    assert "foreign" not in response.content.decode()
    assert "own-1" in response.content.decode()  # the bad value is simply not applied
    exported = csv_rows(client.get(reverse("audit-export"), {"deployment": theirs.pk}))
    assert not [r for r in exported if r["message"].startswith("foreign")]


def test_the_filters_narrow_the_rows(client, owner, organization):
    first = make_deployment(organization, name="first")
    second = make_deployment(organization, name="second", vpc_id="vpc-0bbbbbbbbbbbbbbbb")
    alice = audit.Actor(name="alice", source="web")
    bob = audit.Actor(name="bob", source="web")
    with frozen_at(datetime(2026, 1, 10, 12, tzinfo=UTC)):
        audit.record("peering.created", deployment=first, actor=alice, message="own-jan")
    with frozen_at(datetime(2026, 2, 15, 12, tzinfo=UTC)):
        audit.record("resource.created", deployment=second, actor=bob, message="own-feb")
    with frozen_at(datetime(2026, 3, 20, 12, tzinfo=UTC)):
        audit.record("peering.running", deployment=first, actor=bob, message="own-mar")
    client.force_login(owner)

    def shown(**params):
        page = messages_on(client.get(reverse("audit-log"), params))
        exported = [r["message"] for r in csv_rows(client.get(reverse("audit-export"), params))]
        assert page == exported
        return page

    assert shown() == ["own-mar", "own-feb", "own-jan"]
    assert shown(deployment=first.pk) == ["own-mar", "own-jan"]
    assert shown(deployment=second.pk) == ["own-feb"]
    assert shown(actor="bob") == ["own-mar", "own-feb"]
    assert shown(actor="bo") == []  # exact, not a substring
    assert shown(action="peering.created") == ["own-jan"]
    assert shown(action="resource.created") == ["own-feb"]
    assert shown(since="2026-02-15") == ["own-mar", "own-feb"]
    assert shown(until="2026-02-15") == ["own-feb", "own-jan"]
    assert shown(since="2026-02-01", until="2026-02-28") == ["own-feb"]
    assert shown(deployment=first.pk, actor="bob", action="peering.running") == ["own-mar"]


def test_the_action_filter_offers_each_apps_actions_and_none_of_supports(
    client, owner, organization
):
    """Each app names its own actions (AppConfig.audit_actions): peerings' come first, then
    webhooks', as the single list before did; sign-ins and admin changes are support's."""
    client.force_login(owner)
    form = client.get(reverse("audit-log")).context["form"]
    offered = [value for value, _label in form.fields["action"].choices]
    assert offered[:2] == ["", "peering.created"]
    assert offered.index("resource.deleted") < offered.index("webhook.created")
    assert {"peering.requeued", "webhook.resent", "webhook.secret_rotated"} <= set(offered)
    # 20, the 4 of support requests, and a resource moved to another peering.
    assert len(offered) == len(set(offered)) == 25
    assert not [value for value in offered if value.startswith(("user.", "admin."))]


def test_the_page_is_paged_by_keyset(client, owner, deployment):
    for n in range(1, 121):
        audit.record("peering.created", deployment=deployment, message=f"own-{n}")
    client.force_login(owner)

    def page(url):
        response = client.get(url)
        assert response.status_code == 200
        numbers = [int(m.split("-")[1]) for m in messages_on(response)]
        older = re.search(r'id="older" href="([^"]+)"', response.content.decode())
        if older is None:
            return numbers, None
        link = older.group(1).replace("&amp;", "&")
        assert link.count("before=") == 1
        return numbers, link

    first, older = page(reverse("audit-log"))
    assert first == list(range(120, 70, -1))
    assert older is not None
    before = int(re.search(r"before=(\d+)", older).group(1))
    assert before == AuditEvent.objects.get(message="own-71").pk

    second, older = page(older)
    assert second == list(range(70, 20, -1))
    assert not set(first) & set(second)

    last, older = page(older)
    assert last == list(range(20, 0, -1))
    assert older is None


def test_a_last_page_that_is_exactly_full_has_no_older_link(client, owner, deployment):
    for n in range(1, 51):
        audit.record("peering.created", deployment=deployment, message=f"own-{n}")
    client.force_login(owner)
    response = client.get(reverse("audit-log"))
    assert len(rows(response)) == 50
    assert 'id="older"' not in response.content.decode()


def test_the_older_link_keeps_the_filters(client, owner, deployment):
    for n in range(1, 121):
        audit.record(
            "peering.created" if n % 2 else "peering.running",
            deployment=deployment,
            message=f"own-{n}",
        )
    client.force_login(owner)
    response = client.get(reverse("audit-log"), {"action": "peering.created"})
    assert set(rows(response)) == {"peering.created"}
    assert len(rows(response)) == 50
    older = re.search(r'id="older" href="([^"]+)"', response.content.decode()).group(1)
    response = client.get(older.replace("&amp;", "&"))
    assert set(rows(response)) == {"peering.created"}
    assert len(rows(response)) == 10


def test_htmx_gets_only_the_events_fragment(client, owner, two_orgs):
    client.force_login(owner)
    full = client.get(reverse("audit-log"))
    assert "HX-Request" in full["Vary"]
    response = client.get(reverse("audit-log"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="events">')
    assert "<html" not in body
    assert 'id="audit-filters"' not in body
    assert messages_on(response) == ["own-3", "own-2", "own-1"]
    assert "HX-Request" in response["Vary"]


def test_the_export_link_of_an_htmx_update_carries_the_filters_in_force(client, owner, deployment):
    audit.record("peering.created", deployment=deployment, message="own-created")
    audit.record("peering.running", deployment=deployment, message="own-running")
    client.force_login(owner)
    response = client.get(
        reverse("audit-log"), {"action": "peering.running"}, HTTP_HX_REQUEST="true"
    )
    link = re.search(r'id="export-csv" href="([^"]+)"', response.content.decode()).group(1)
    exported = csv_rows(client.get(link.replace("&amp;", "&")))
    assert [r["message"] for r in exported] == ["own-running"]


def test_customers_see_support_staff_as_the_vendors_support_without_name_or_address(
    client, owner, deployment, settings
):
    sam = audit.Actor(user_id=None, name="sam.engineer", source="admin", ip="10.9.8.7")
    audit.record("peering.retried", deployment=deployment, actor=sam, message="own-support")
    olivia = audit.Actor(name="olivia", source="web", ip="198.51.100.9")
    audit.record("peering.created", deployment=deployment, actor=olivia, message="own-web")
    client.force_login(owner)
    page = client.get(reverse("audit-log")).content.decode()
    exported = csv_rows(client.get(reverse("audit-export")))
    for shown in (page, str(exported)):
        assert "sam.engineer" not in shown and "10.9.8.7" not in shown
        assert f"{settings.VENDOR_NAME} support" in shown
        assert "198.51.100.9" in shown  # the customer's own people keep theirs
    support_row = next(r for r in exported if r["message"] == "own-support")
    assert (support_row["actor"], support_row["ip"]) == (f"{settings.VENDOR_NAME} support", "")
    # Found by what is shown, never by a guessed username.
    assert messages_on(client.get(reverse("audit-log"), {"actor": "sam.engineer"})) == []
    assert messages_on(
        client.get(reverse("audit-log"), {"actor": f"{settings.VENDOR_NAME} support"})
    ) == ["own-support"]


def test_work_support_queued_is_shown_as_the_vendors_support_too(
    client, owner, deployment, settings
):
    sam = get_user_model().objects.create_user("sam.engineer", is_staff=True)
    in_the_admin = audit.actor_for_user(sam, "admin", "10.9.8.7", "req-sam-1")
    queued_by_sam = audit.Actor(**in_the_admin.as_task_context())  # what the worker runs as
    assert queued_by_sam.source == "task"
    audit.record(
        "peering.running", deployment=deployment, actor=queued_by_sam, message="own-retried"
    )
    # Offboarding the engineer later must not unmask what they did.
    sam.is_staff = sam.is_active = False
    sam.save()
    client.force_login(owner)
    page = client.get(reverse("audit-log")).content.decode()
    exported = csv_rows(client.get(reverse("audit-export")))
    for shown in (page, str(exported)):
        assert "sam.engineer" not in shown and "10.9.8.7" not in shown
        assert "req-sam-1" not in shown
    assert exported[0]["actor"] == f"{settings.VENDOR_NAME} support"
    assert messages_on(client.get(reverse("audit-log"), {"actor": "sam.engineer"})) == []
    assert messages_on(
        client.get(reverse("audit-log"), {"actor": f"{settings.VENDOR_NAME} support"})
    ) == ["own-retried"]


def test_csv_cells_that_would_run_as_formulas_are_defused(client, owner, deployment):
    audit.record(
        "peering.created",
        deployment=deployment,
        message='=HYPERLINK("x")',
        actor=audit.Actor(name="@SUM(A1)", source="web"),
    )
    audit.record("peering.created", deployment=deployment, message="+1+2")
    audit.record("peering.created", deployment=deployment, message="-1-2")
    client.force_login(owner)
    exported = csv_rows(client.get(reverse("audit-export")))
    assert [r["message"] for r in exported] == ["'-1-2", "'+1+2", '\'=HYPERLINK("x")']
    assert exported[2]["actor"] == "'@SUM(A1)"
    for row in exported:
        assert not any(str(cell)[:1] in "=+-@" for cell in row.values() if cell)


# --- 9. a fixed number of queries ---


def audit_page_queries(client, url):
    client.get(url)  # warm caches (sessions, content types) before counting
    count, response = queries_for(client, url)
    return count, len(rows(response))


def record_events(deployment, actor, count):
    return [
        audit.record(
            "peering.created",
            deployment=deployment,
            actor=actor,
            after={"n": n},
            message=f"own-{n}",
        )
        for n in range(count)
    ]


def test_the_audit_page_runs_a_fixed_number_of_queries(client, owner, deployment):
    actor = audit.actor_for_user(owner, "web", CLIENT_IP)
    client.force_login(owner)
    url = reverse("audit-log")
    record_events(deployment, actor, 1)
    few, shown = audit_page_queries(client, url)
    assert shown == 1
    record_events(deployment, actor, 199)
    many, shown = audit_page_queries(client, url)
    assert shown == 50
    assert few == many


def test_a_deep_page_runs_as_many_queries_as_the_first(client, owner, deployment):
    actor = audit.actor_for_user(owner, "web", CLIENT_IP)
    client.force_login(owner)
    (only,) = record_events(deployment, actor, 1)
    few, shown = audit_page_queries(client, f"{reverse('audit-log')}?before={only.pk + 1}")
    assert shown == 1
    events = record_events(deployment, actor, 199)
    deep = f"{reverse('audit-log')}?before={events[150].pk}"
    many, shown = audit_page_queries(client, deep)
    assert shown == 50
    assert few == many
    first_page, _ = audit_page_queries(client, reverse("audit-log"))
    assert first_page == many
