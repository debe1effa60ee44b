from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    # What customers may filter their audit log by (core.audit.customer_actions).
    audit_actions = [
        ("webhook.created", "Webhook created"),
        ("webhook.changed", "Webhook changed"),
        ("webhook.deleted", "Webhook deleted"),
        ("webhook.secret_rotated", "Webhook secret rotated"),
        ("webhook.test_sent", "Webhook test sent"),
        ("webhook.resent", "Webhook delivery sent again"),
    ]

    def ready(self):
        # Here, not at the top: both import models, which cannot load before the apps.
        from peerings.services import peering_status_changed
        from webhooks import signals

        peering_status_changed.connect(
            signals.notify_webhooks, dispatch_uid="webhooks.notify_webhooks"
        )
        post_migrate.connect(signals.keep_bootstrap_rows, sender=self)
