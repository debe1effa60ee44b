"""Checkpoints of the audit chain's head (core.models.AuditCheckpoint), append-only like the
log itself (on PostgreSQL a trigger refuses UPDATE and DELETE; SQLite: the model refuses),
and the django-q2 schedule that writes them (AUDIT_CHECKPOINT_EVERY_MINUTES at the time of
migrating; change it in the admin's Scheduled tasks afterwards)."""

import django.utils.timezone
from django.db import migrations, models

from core.bootstrap import AUDIT_CHECKPOINT_SCHEDULE, ensure_audit_checkpoint_schedule

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION core_auditcheckpoint_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit checkpoints are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER core_auditcheckpoint_append_only
    BEFORE UPDATE OR DELETE ON core_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION core_auditcheckpoint_append_only();
"""

APPEND_ONLY_REVERSE = """
DROP TRIGGER IF EXISTS core_auditcheckpoint_append_only ON core_auditcheckpoint;
DROP FUNCTION IF EXISTS core_auditcheckpoint_append_only();
"""


def add_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_REVERSE, params=None)


def create_schedule(apps, schema_editor):
    ensure_audit_checkpoint_schedule(apps.get_model("django_q", "Schedule"))


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=AUDIT_CHECKPOINT_SCHEDULE).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0002_move_content_types"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("head_event_id", models.BigIntegerField(blank=True, null=True)),
                ("head_hash", models.CharField(blank=True, max_length=64)),
                ("event_count", models.PositiveBigIntegerField()),
            ],
            options={
                "ordering": ["-id"],
            },
        ),
        migrations.RunPython(add_trigger, drop_trigger),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
