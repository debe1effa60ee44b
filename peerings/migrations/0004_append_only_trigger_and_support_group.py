"""The audit log refuses UPDATE and DELETE at the database on PostgreSQL (SQLite: nothing to
do; the model refuses there). And the Support group: read everything of ours, run Retry and
Re-sync from AWS, change and delete nothing."""

from django.db import migrations

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

# (model, codename, name)
SUPPORT_PERMISSIONS = [
    ("organization", "view_organization", "Can view organization"),
    ("membership", "view_membership", "Can view membership"),
    ("deployment", "view_deployment", "Can view deployment"),
    ("peeringconnection", "view_peeringconnection", "Can view peering connection"),
    ("resource", "view_resource", "Can view resource"),
    ("auditevent", "view_auditevent", "Can view audit event"),
    ("peeringconnection", "retry_peering", "Can retry a failed peering"),
    ("peeringconnection", "resync_peering", "Can re-sync a peering from AWS"),
]


def add_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_REVERSE, params=None)


def create_support_group(apps, schema_editor):
    # Django creates permissions after all migrations have run; the group needs them now,
    # so make them here (get_or_create: Django's own pass then finds them in place).
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name="Support")
    for model, codename, name in SUPPORT_PERMISSIONS:
        content_type, _ = ContentType.objects.get_or_create(app_label="peerings", model=model)
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)


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
