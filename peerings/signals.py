"""Rows the peerings app cannot work without, put back after every `migrate` and every
test flush (bootstrap.py)."""

from peerings import bootstrap


def keep_bootstrap_rows(sender, apps=None, **kwargs):
    # A test flush empties every table, data migrations' rows included; put them back.
    from django.apps import apps as global_apps
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType
    from django_q.models import Schedule

    bootstrap.ensure_support_group(Group, Permission, ContentType)
    bootstrap.ensure_reconcile_schedule(Schedule)
    # Not when webhooks were migrated back before the column the recovery reads.
    migrated = apps or global_apps
    try:
        delivery_fields = migrated.get_model("webhooks", "WebhookDelivery")._meta.get_fields()
    except LookupError:
        delivery_fields = []
    if any(field.name == "presumed_lost_at" for field in delivery_fields):
        bootstrap.ensure_webhook_recovery_schedule(Schedule)
