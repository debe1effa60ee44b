"""The django-q2 schedule that runs reconcile every few minutes (RECONCILE_EVERY_MINUTES at
the time of migrating; change it in the admin's Scheduled tasks afterwards)."""

from django.db import migrations

from peerings.bootstrap import RECONCILE_SCHEDULE, ensure_reconcile_schedule


def create_schedule(apps, schema_editor):
    ensure_reconcile_schedule(apps.get_model("django_q", "Schedule"))


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=RECONCILE_SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("peerings", "0004_append_only_trigger_and_support_group"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
