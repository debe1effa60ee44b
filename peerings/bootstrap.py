"""Rows the portal cannot work without, made by migrations and kept whole after every
`migrate` (and every test flush, which empties all tables) by a post_migrate receiver.
Functions take the models as arguments so that a migration can pass its historical ones.

- the Support group: view everything of ours (webhooks included), run Retry and Re-sync
  from AWS, change and delete nothing;
- the django-q2 schedules that reconcile peerings with AWS and recover stalled webhook
  deliveries every few minutes."""

from django.conf import settings

SUPPORT_GROUP = "Support"

# (app, model, codename, name)
SUPPORT_PERMISSIONS = [
    ("core", "organization", "view_organization", "Can view organization"),
    ("core", "membership", "view_membership", "Can view membership"),
    ("peerings", "deployment", "view_deployment", "Can view deployment"),
    ("peerings", "peeringconnection", "view_peeringconnection", "Can view peering connection"),
    ("peerings", "resource", "view_resource", "Can view resource"),
    ("core", "auditevent", "view_auditevent", "Can view audit event"),
    ("peerings", "peeringconnection", "retry_peering", "Can retry a failed peering"),
    ("peerings", "peeringconnection", "resync_peering", "Can re-sync a peering from AWS"),
    # "My webhook never arrived" is a support ticket too: endpoints (never their secrets),
    # deliveries and each attempt's status code and error.
    ("webhooks", "webhookendpoint", "view_webhookendpoint", "Can view webhook endpoint"),
    ("webhooks", "webhookdelivery", "view_webhookdelivery", "Can view webhook delivery"),
    ("webhooks", "webhookattempt", "view_webhookattempt", "Can view webhook attempt"),
]


def ensure_support_group(group_model, permission_model, content_type_model,
                         permissions=SUPPORT_PERMISSIONS):
    """Takes the models as arguments so that a migration can pass its historical ones (and
    the permissions as they were then). Permissions may not exist yet during migrate
    (Django makes them afterwards)."""
    group, _ = group_model.objects.get_or_create(name=SUPPORT_GROUP)
    for app_label, model, codename, name in permissions:
        content_type, _ = content_type_model.objects.get_or_create(
            app_label=app_label, model=model
        )
        permission, _ = permission_model.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)
    return group


RECONCILE_SCHEDULE = "Reconcile peerings with AWS"
WEBHOOK_RECOVERY_SCHEDULE = "Recover stalled webhook deliveries"


def ensure_reconcile_schedule(schedule_model):
    return _every_few_minutes(schedule_model, RECONCILE_SCHEDULE,
                              "peerings.tasks.reconcile_peerings")


def ensure_webhook_recovery_schedule(schedule_model):
    return _every_few_minutes(schedule_model, WEBHOOK_RECOVERY_SCHEDULE,
                              "webhooks.tasks.recover_stalled_deliveries")


def _every_few_minutes(schedule_model, name, func):
    schedule, _ = schedule_model.objects.get_or_create(
        name=name,
        defaults={
            "func": func,
            "schedule_type": "I",  # Schedule.MINUTES
            "minutes": settings.RECONCILE_EVERY_MINUTES,
            "repeats": -1,
        },
    )
    return schedule
