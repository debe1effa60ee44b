"""Organization, Membership and AuditEvent moved from peerings to core without touching their
tables: a database made before the move keeps every row, foreign key, permission, grant and
admin history entry, and its audit chain still verifies. Each test migrates this test
database back to before the move, writes rows with the models as they were then, and
migrates forward again."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from core import audit
from core.models import AuditEvent, Membership, Organization
from peerings.models import Deployment
from webhooks.models import WebhookEndpoint

BEFORE_THE_MOVE = [
    ("core", None),
    ("peerings", "0006_audit_by_support"),
    ("webhooks", "0003_secret_rotation_overlap"),
]
MOVED = ["organization", "membership", "auditevent"]


def migrate(targets):
    """Migrate to `targets`; the models as they are there, admin's LogEntry included."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    ContentType.objects.clear_cache()
    admin = ("admin", "0003_logentry_add_action_flag_choices")
    nodes = [(app, name) for app, name in targets if name is not None]
    return executor.loader.project_state([*nodes, admin]).apps


def migrate_to_the_end():
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def before_the_move(transactional_db):
    """The models as they were before the move, in a database migrated back to then; the
    database is migrated to the end again whatever the test does."""
    try:
        yield migrate(BEFORE_THE_MOVE)
    finally:
        migrate_to_the_end()


def old_world(old):
    """Rows of every moved model, and of the models that point at them, written with the
    historical models of before the move."""
    user = old.get_model("auth", "User").objects.create(username="olivia")
    support = old.get_model("auth", "User").objects.create(username="sam", is_staff=True)
    support.groups.add(old.get_model("auth", "Group").objects.get(name="Support"))
    organization = old.get_model("peerings", "Organization").objects.create(name="Acme")
    old.get_model("peerings", "Membership").objects.create(
        user=user, organization=organization, role="owner"
    )
    deployment = old.get_model("peerings", "Deployment").objects.create(
        organization=organization,
        name="orders",
        plan="dedicated",
        region="us-east-1",
        vendor_account_id="123456789012",
        vpc_id="vpc-0123456789abcdef0",
        cidr="10.20.0.0/16",
        security_group_id="sg-0123456789abcdef0",
        service_ports=[1883],
    )
    old.get_model("webhooks", "WebhookEndpoint").objects.create(
        organization=organization, url="https://hooks.example.com/x", secret="whsec_x"
    )
    event_model = old.get_model("peerings", "AuditEvent")
    previous = ""
    for action in ("deployment.created", "peering.created"):
        event = event_model(
            created_at=timezone.now(),
            actor=user,
            actor_name="olivia",
            source="web",
            organization=organization,
            deployment=deployment,
            action=action,
            target_type="Deployment",
            target_id=str(deployment.pk),
            target_repr="orders",
            prev_hash=previous,
        )
        event.hash = previous = audit.event_hash(event)
        event.save()
    content_type = old.get_model("contenttypes", "ContentType").objects.get(
        app_label="peerings", model="organization"
    )
    old.get_model("admin", "LogEntry").objects.create(
        user_id=support.pk,
        content_type_id=content_type.pk,
        object_id=str(organization.pk),
        object_repr="Acme",
        action_flag=CHANGE,
        change_message="[]",
        action_time=timezone.now(),
    )
    return {
        "organization": organization.pk,
        "deployment": deployment.pk,
        "content_types": {
            model: old.get_model("contenttypes", "ContentType")
            .objects.get(app_label="peerings", model=model)
            .pk
            for model in MOVED
        },
    }


def assert_the_world_survived(before):
    organization = Organization.objects.get(name="Acme")
    assert organization.pk == before["organization"]
    assert Deployment.objects.get(pk=before["deployment"]).organization == organization
    assert WebhookEndpoint.objects.get().organization == organization
    membership = Membership.objects.get()
    assert (membership.user.username, membership.organization, membership.role) == (
        "olivia",
        organization,
        "owner",
    )
    events = list(AuditEvent.objects.order_by("id"))
    assert [(e.action, e.organization, e.deployment_id) for e in events] == [
        ("deployment.created", organization, before["deployment"]),
        ("peering.created", organization, before["deployment"]),
    ]
    assert audit.first_broken_link() is None
    # The chain goes on from where it was, and still verifies.
    audit.record("organization.checked", target=organization)
    assert audit.first_broken_link() is None
    call_command("verify_audit_chain")
    # Permissions and grants followed their content types; nothing is left under peerings.
    assert not ContentType.objects.filter(app_label="peerings", model__in=MOVED).exists()
    support = get_user_model().objects.get(username="sam")
    assert support.has_perm("core.view_organization")
    assert support.has_perm("core.view_membership")
    assert support.has_perm("core.view_auditevent")
    assert not support.has_perm("core.change_organization")
    group = Group.objects.get(name="Support")
    for model in MOVED:
        assert Permission.objects.filter(codename=f"view_{model}").count() == 1
        assert group.permissions.filter(
            content_type__app_label="core", codename=f"view_{model}"
        ).exists()
    entry = LogEntry.objects.get()
    assert entry.get_edited_object() == organization
    assert (entry.content_type.app_label, entry.content_type.model) == ("core", "organization")


def test_a_database_made_before_the_move_keeps_its_rows_permissions_and_chain(before_the_move):
    before = old_world(before_the_move)
    migrate_to_the_end()
    assert_the_world_survived(before)
    # The content type rows themselves were moved, so whatever else held their ids follows.
    assert {
        model: ContentType.objects.get(app_label="core", model=model).pk for model in MOVED
    } == before["content_types"]


def test_content_types_that_already_exist_under_core_are_merged(before_the_move):
    """Django made core's content types and permissions (a `migrate` that stopped at core
    0001, then post_migrate): the grants and history on peerings' move onto them."""
    before = old_world(before_the_move)
    content_types = before_the_move.get_model("contenttypes", "ContentType")
    permissions = before_the_move.get_model("auth", "Permission")
    for model in MOVED:
        made = content_types.objects.create(app_label="core", model=model)
        for verb in ("view", "change"):
            permissions.objects.create(
                content_type=made, codename=f"{verb}_{model}", name=f"Can {verb} {model}"
            )
    migrate_to_the_end()
    assert_the_world_survived(before)
    assert not ContentType.objects.filter(pk__in=before["content_types"].values()).exists()


# --- reasons as codes (peerings 0009, core 0003) ---

BEFORE_THE_CODES = [("core", "0006_audit_source_api"), ("peerings", "0010_aws_rate_bucket")]
UNKNOWN = "Support fixed this by hand on 3 May."


@pytest.fixture
def before_the_codes(transactional_db):
    try:
        yield migrate(BEFORE_THE_CODES)
    finally:
        migrate_to_the_end()


def test_reasons_written_before_the_codes_become_codes_and_old_events_still_verify(
    before_the_codes,
):
    old = before_the_codes
    organization = old.get_model("core", "Organization").objects.create(name="Acme")
    deployment = old.get_model("peerings", "Deployment").objects.create(
        organization=organization,
        name="orders",
        plan="dedicated",
        region="us-east-1",
        vendor_account_id="123456789012",
        vpc_id="vpc-0123456789abcdef0",
        cidr="10.20.0.0/16",
        security_group_id="sg-0123456789abcdef0",
        service_ports=[1883],
    )
    peerings = old.get_model("peerings", "PeeringConnection")
    said = {
        "gone": "The peering connection is rejected in AWS: it was deleted, rejected or expired "
        "on your side. Resources using it cannot be reached; create a new peering and move them.",
        "delete": "Deleting stopped because AWS did not complete a step (UnauthorizedOperation). "
        "Nothing is left half-done that a second try cannot finish: press Delete again.",
        "unknown": UNKNOWN,
    }
    rows = {
        key: peerings.objects.create(
            deployment=deployment,
            peering_id=f"pcx-{n:017x}",
            customer_account_id="210987654321",
            customer_vpc_id=f"vpc-{n:017x}",
            status="failed",
            status_reason=text,
        ).pk
        for n, (key, text) in enumerate(said.items(), start=1)
    }
    old.get_model("peerings", "SupportRequest").objects.create(
        peering_id=rows["delete"], failed_status="failed", failure_reason=said["delete"]
    )
    events = old.get_model("core", "AuditEvent")
    previous = ""
    for action, message in (("peering.failed", "An English sentence."), ("peering.deleted", "")):
        event = events(
            created_at=timezone.now(),
            source="task",
            organization=organization,
            action=action,
            message=message,
            after={"status": "failed", "status_reason": said["gone"]},
            prev_hash=previous,
        )
        event.hash = previous = audit.event_hash(event)
        event.save()

    migrate_to_the_end()

    from peerings.models import PeeringConnection, SupportRequest

    gone = PeeringConnection.objects.get(pk=rows["gone"])
    assert (gone.status_reason_code, gone.status_reason_params, gone.status_reason_text) == (
        "deleted_by_customer",
        {"state": "rejected"},
        "",
    )
    assert gone.status_reason == said["gone"]  # the same words, now from the code
    deleting = PeeringConnection.objects.get(pk=rows["delete"])
    assert (deleting.status_reason_code, deleting.status_reason_params) == (
        "delete_refused",
        {"aws_code": "UnauthorizedOperation"},
    )
    assert deleting.status_reason == said["delete"]
    unknown = PeeringConnection.objects.get(pk=rows["unknown"])
    assert (unknown.status_reason_code, unknown.status_reason_text) == ("", UNKNOWN)
    assert unknown.status_reason == UNKNOWN
    request = SupportRequest.objects.get()
    assert request.failure_reason_code == "delete_refused"
    assert request.failure_reason == said["delete"]
    # The events were not touched: their English stays, and the chain verifies.
    assert [e.message_text for e in AuditEvent.objects.order_by("id")] == [
        "An English sentence.",
        "",
    ]
    assert audit.first_broken_link() is None
    audit.record("peering.requeued", message_code="requeued", message_params={"status": "x"})
    assert audit.first_broken_link() is None
    call_command("verify_audit_chain")
