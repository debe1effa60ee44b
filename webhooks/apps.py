from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from peerings.services import peering_status_changed
        from webhooks import signals

        peering_status_changed.connect(signals.notify_webhooks,
                                       dispatch_uid="webhooks.notify_webhooks")
