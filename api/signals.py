"""Imported by ApiConfig.ready(), once every app is loaded: models import at the top."""

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from api import bootstrap
from core.bootstrap import ensure_support_group


def keep_bootstrap_rows(sender, **kwargs):
    # A test flush empties every table; put the Support group's grants back.
    ensure_support_group(Group, Permission, ContentType, bootstrap.SUPPORT_PERMISSIONS)
