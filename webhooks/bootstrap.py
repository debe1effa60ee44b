"""The webhooks app's rows that must always exist (see core.bootstrap):

- the Support group's grants here: "my webhook never arrived" is a support ticket too, so
  support views endpoints (never their secrets), deliveries and each attempt's status code
  and error; it changes and deletes nothing;
- the django-q2 schedule that recovers stalled deliveries every few minutes."""

from core.bootstrap import every_few_minutes

# (app, model, codename, name)
SUPPORT_PERMISSIONS = [
    ("webhooks", "webhookendpoint", "view_webhookendpoint", "Can view webhook endpoint"),
    ("webhooks", "webhookdelivery", "view_webhookdelivery", "Can view webhook delivery"),
    ("webhooks", "webhookattempt", "view_webhookattempt", "Can view webhook attempt"),
]

WEBHOOK_RECOVERY_SCHEDULE = "Recover stalled webhook deliveries"


def ensure_webhook_recovery_schedule(schedule_model):
    return every_few_minutes(
        schedule_model, WEBHOOK_RECOVERY_SCHEDULE, "webhooks.tasks.recover_stalled_deliveries"
    )
