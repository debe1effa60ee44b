"""Rows the peerings app cannot work without (bootstrap.py), put back after every `migrate`
and every test flush. Imported by PeeringsConfig.ready(), once every app is loaded: models
import at the top."""

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django_q.models import Schedule

from core.bootstrap import ensure_support_group
from peerings import bootstrap


def keep_bootstrap_rows(sender, **kwargs):
    # A test flush empties every table, data migrations' rows included; put them back.
    ensure_support_group(Group, Permission, ContentType, bootstrap.SUPPORT_PERMISSIONS)
    bootstrap.ensure_reconcile_schedule(Schedule)
