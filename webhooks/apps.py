from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        # Here, not at the top: both import models, which cannot load before the apps.
        from peerings.services import peering_status_changed
        from webhooks import signals

        peering_status_changed.connect(signals.notify_webhooks,
                                       dispatch_uid="webhooks.notify_webhooks")
