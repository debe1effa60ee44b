from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    # What customers may filter their audit log by (core.audit.customer_actions).
    audit_actions = [
        ("webhook.created", _("Webhook created")),
        ("webhook.changed", _("Webhook changed")),
        ("webhook.deleted", _("Webhook deleted")),
        ("webhook.secret_rotated", _("Webhook secret rotated")),
        ("webhook.test_sent", _("Webhook test sent")),
        ("webhook.resent", _("Webhook delivery sent again")),
    ]

    def ready(self):
        # Here, not at the top: both import models, which cannot load before the apps.
        from peerings.services import peering_status_changed
        from webhooks import signals

        peering_status_changed.connect(
            signals.notify_webhooks, dispatch_uid="webhooks.notify_webhooks"
        )
        post_migrate.connect(signals.keep_bootstrap_rows, sender=self)
