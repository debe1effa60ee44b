"""Rows the portal cannot work without, made by migrations and kept whole after every
`migrate` (and every test flush, which empties all tables) by a post_migrate receiver.
Functions take the models as arguments so that a migration can pass its historical ones.

- the Support group: view everything of ours, run Retry and Re-sync from AWS, change and
  delete nothing;
- the django-q2 schedule that reconciles peerings with AWS every few minutes."""

from django.conf import settings

SUPPORT_GROUP = "Support"

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


def ensure_support_group(group_model, permission_model, content_type_model):
    """Takes the models as arguments so that a migration can pass its historical ones.
    Permissions may not exist yet during migrate (Django makes them afterwards)."""
    group, _ = group_model.objects.get_or_create(name=SUPPORT_GROUP)
    for model, codename, name in SUPPORT_PERMISSIONS:
        content_type, _ = content_type_model.objects.get_or_create(
            app_label="peerings", model=model
        )
        permission, _ = permission_model.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)
    return group


RECONCILE_SCHEDULE = "Reconcile peerings with AWS"


def ensure_reconcile_schedule(schedule_model):
    schedule, _ = schedule_model.objects.get_or_create(
        name=RECONCILE_SCHEDULE,
        defaults={
            "func": "peerings.tasks.reconcile_peerings",
            "schedule_type": "I",  # Schedule.MINUTES
            "minutes": settings.RECONCILE_EVERY_MINUTES,
            "repeats": -1,
        },
    )
    return schedule
