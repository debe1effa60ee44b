from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PeeringsConfig(AppConfig):
    name = "peerings"
    verbose_name = "VPC peering"

    def ready(self):
        # Here, not at the top: signals imports models, which cannot load before the apps.
        from peerings import signals

        post_migrate.connect(signals.keep_bootstrap_rows, sender=self)
