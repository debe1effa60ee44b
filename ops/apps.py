from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save


class OpsConfig(AppConfig):
    """What operators see of the portal: health and readiness, metrics, the worker
    heartbeat. Reads the other apps; none of them import it but peerings/aws.py (its hook)."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self):
        # Here, not at the top: both import models, which cannot load before the apps.
        from core.models import AuditEvent
        from ops import signals
        from webhooks.models import WebhookAttempt

        post_save.connect(signals.count_audit_event, sender=AuditEvent, dispatch_uid="ops.audit")
        post_save.connect(
            signals.count_webhook_attempt, sender=WebhookAttempt, dispatch_uid="ops.webhooks"
        )
        post_migrate.connect(signals.keep_heartbeat_schedule, sender=self)
