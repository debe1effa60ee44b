"""Imported by WebhooksConfig.ready(), once every app is loaded: models import at the top."""

import logging

from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django_q.models import Schedule

from core.bootstrap import ensure_support_group
from webhooks import bootstrap, services

log = logging.getLogger(__name__)


def notify_webhooks(sender, peering, previous, event, **kwargs):
    """peering_status_changed, received inside the transaction of the change: deliveries
    are rows of that transaction, their sends are queued on commit, so a rolled-back change
    notifies nobody. A failure here must never undo a peering change, so it is kept in a
    savepoint of its own and logged."""
    try:
        with transaction.atomic():
            services.record_peering_event(peering, previous)
    except Exception:
        log.exception(
            "webhooks: no deliveries made for peering %s becoming %s", peering.pk, peering.status
        )


def keep_bootstrap_rows(sender, apps=None, **kwargs):
    """Rows webhooks cannot work without (bootstrap.py), put back after every `migrate` and
    every test flush (which empties all tables, data migrations' rows included)."""
    ensure_support_group(Group, Permission, ContentType, bootstrap.SUPPORT_PERMISSIONS)
    # Not when webhooks were migrated back before the column the recovery reads.
    migrated = apps or global_apps
    try:
        delivery_fields = migrated.get_model("webhooks", "WebhookDelivery")._meta.get_fields()
    except LookupError:
        delivery_fields = []
    if any(field.name == "presumed_lost_at" for field in delivery_fields):
        bootstrap.ensure_webhook_recovery_schedule(Schedule)
