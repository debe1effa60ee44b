"""The audit log refuses UPDATE and DELETE at the database on PostgreSQL (SQLite: nothing to
do; the model refuses there). And the Support group: read everything of ours, run Retry and
Re-sync from AWS, change and delete nothing."""

from django.db import migrations

from core.bootstrap import ensure_support_group

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION peerings_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER peerings_auditevent_append_only
    BEFORE UPDATE OR DELETE ON peerings_auditevent
    FOR EACH ROW EXECUTE FUNCTION peerings_auditevent_append_only();
"""

APPEND_ONLY_REVERSE = """
DROP TRIGGER IF EXISTS peerings_auditevent_append_only ON peerings_auditevent;
DROP FUNCTION IF EXISTS peerings_auditevent_append_only();
"""


def add_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_REVERSE, params=None)


# As the group was when this migration was written; later grants (webhooks) come with
# every `migrate`, from the post_migrate receiver, once their apps' tables exist.
PERMISSIONS_THEN = [
    ("peerings", "organization", "view_organization", "Can view organization"),
    ("peerings", "membership", "view_membership", "Can view membership"),
    ("peerings", "deployment", "view_deployment", "Can view deployment"),
    ("peerings", "peeringconnection", "view_peeringconnection", "Can view peering connection"),
    ("peerings", "resource", "view_resource", "Can view resource"),
    ("peerings", "auditevent", "view_auditevent", "Can view audit event"),
    ("peerings", "peeringconnection", "retry_peering", "Can retry a failed peering"),
    ("peerings", "peeringconnection", "resync_peering", "Can re-sync a peering from AWS"),
]


def create_support_group(apps, schema_editor):
    ensure_support_group(
        apps.get_model("auth", "Group"),
        apps.get_model("auth", "Permission"),
        apps.get_model("contenttypes", "ContentType"),
        PERMISSIONS_THEN,
    )


def remove_support_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Support").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("peerings", "0003_audit_chain_and_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(add_trigger, drop_trigger),
        migrations.RunPython(create_support_group, remove_support_group),
    ]
