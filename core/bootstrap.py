"""Rows the portal cannot work without, made by migrations and kept whole after every
`migrate` (and every test flush, which empties all tables) by each app's post_migrate
receiver. Functions take the models as arguments so that a migration can pass its
historical ones.

The Support group is the platform's; each app grants it what support needs of that app
(view everything, run the app's support actions, change and delete nothing) from its own
bootstrap module. Here: organizations, their members and the audit log; and the django-q2
schedule that checkpoints the audit chain."""

from django.conf import settings

SUPPORT_GROUP = "Support"

# (app, model, codename, name)
SUPPORT_PERMISSIONS = [
    ("core", "organization", "view_organization", "Can view organization"),
    ("core", "membership", "view_membership", "Can view membership"),
    ("core", "auditevent", "view_auditevent", "Can view audit event"),
]


def ensure_support_group(group_model, permission_model, content_type_model, permissions):
    """Takes the models as arguments so that a migration can pass its historical ones (and
    the permissions as they were then). Permissions may not exist yet during migrate
    (Django makes them afterwards)."""
    group, _ = group_model.objects.get_or_create(name=SUPPORT_GROUP)
    for app_label, model, codename, name in permissions:
        content_type, _ = content_type_model.objects.get_or_create(app_label=app_label, model=model)
        permission, _ = permission_model.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)
    return group


def every_few_minutes(schedule_model, name, func, minutes=None):
    """A django-q2 schedule running `func` every `minutes`, by default RECONCILE_EVERY_MINUTES
    (at the time it is made; change it in the admin's Scheduled tasks afterwards)."""
    schedule, _ = schedule_model.objects.get_or_create(
        name=name,
        defaults={
            "func": func,
            "schedule_type": "I",  # Schedule.MINUTES
            "minutes": settings.RECONCILE_EVERY_MINUTES if minutes is None else minutes,
            "repeats": -1,
        },
    )
    return schedule


AUDIT_CHECKPOINT_SCHEDULE = "Checkpoint the audit chain"


def ensure_audit_checkpoint_schedule(schedule_model):
    return every_few_minutes(
        schedule_model,
        AUDIT_CHECKPOINT_SCHEDULE,
        "core.tasks.checkpoint_audit_chain",
        minutes=settings.AUDIT_CHECKPOINT_EVERY_MINUTES,
    )
