"""Audit events that Django, not our services, knows about: logins, failed logins, logouts,
and changes made in the admin to models whose ModelAdmin does not record them itself.

Imported by CoreConfig.ready(), once every app is loaded: models import at the top."""

from dataclasses import replace

from django.apps import apps as global_apps
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_save
from django.dispatch import receiver
from django_q.models import Schedule

from core import audit, bootstrap, login_guard


def _as(user):
    current = audit.current_actor()
    return replace(current, user_id=user.pk, name=user.get_username())


@receiver(user_logged_in)
def record_login(sender, request, user, **kwargs):
    audit.record("user.logged_in", target=user, actor=_as(user))


@receiver(user_logged_out)
def record_logout(sender, request, user, **kwargs):
    if user is not None:
        audit.record("user.logged_out", target=user, actor=_as(user))


@receiver(user_login_failed)
def record_failed_login(sender, credentials, request=None, **kwargs):
    # Only the username, and only one that names an account: Django has masked anything
    # that looks like a password, but not a password typed into the username field.
    typed = str(credentials.get("username", ""))
    username = login_guard.username_for_the_log(typed)
    audit.record(
        "user.login_failed",
        message_code="login_failed",
        message_params={"username": username},
        after={"username": username},
    )
    if request is not None:
        login_guard.note_failure(typed, login_guard.lockout_address(request))


def _recorded_by_their_admin(content_type):
    """Our own models (AuditedAdmin), and users and groups (AuditedPrivileges, whose
    privileges the snapshot shows), are recorded by their ModelAdmin instead, with
    before/after snapshots (admin.py)."""
    # Here, not at the top: core.admin replaces the auth app's User and Group admins, which
    # the admin's autodiscovery registers only after this module is loaded.
    from core.admin import AuditedAdmin, AuditedPrivileges

    model = content_type.model_class()
    return (
        model is not None
        and admin.site.is_registered(model)
        and isinstance(admin.site.get_model_admin(model), AuditedAdmin | AuditedPrivileges)
    )


@receiver(post_save, sender=LogEntry)
def record_admin_change(sender, instance, created, **kwargs):
    # Deletions (which Django may log in bulk, without this signal) are recorded in admin.py.
    content_type = instance.content_type
    if not created or instance.is_deletion() or _recorded_by_their_admin(content_type):
        return
    verb = "added" if instance.is_addition() else "changed"
    audit.record(
        f"admin.{instance.content_type.model}.{verb}",
        message=f"{instance.object_repr}: {instance.get_change_message() or verb}",
        after={"object_id": instance.object_id, "object": instance.object_repr},
    )


def keep_bootstrap_rows(sender, apps=None, **kwargs):
    # A test flush empties every table, data migrations' rows included; put them back.
    bootstrap.ensure_support_group(Group, Permission, ContentType, bootstrap.SUPPORT_PERMISSIONS)
    # Not when core was migrated back before the table the schedule writes.
    try:
        (apps or global_apps).get_model("core", "AuditCheckpoint")
    except LookupError:
        return
    bootstrap.ensure_audit_checkpoint_schedule(Schedule)
