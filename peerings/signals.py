"""Rows the peerings app cannot work without (bootstrap.py), put back after every `migrate`
and every test flush."""

from core.bootstrap import ensure_support_group
from peerings import bootstrap


def keep_bootstrap_rows(sender, **kwargs):
    # A test flush empties every table, data migrations' rows included; put them back.
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType
    from django_q.models import Schedule

    ensure_support_group(Group, Permission, ContentType, bootstrap.SUPPORT_PERMISSIONS)
    bootstrap.ensure_reconcile_schedule(Schedule)
