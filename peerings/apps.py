from django.apps import AppConfig


class PeeringsConfig(AppConfig):
    name = "peerings"
    verbose_name = "VPC peering"

    def ready(self):
        from django.db.models.signals import post_migrate

        from peerings import signals

        post_migrate.connect(signals.keep_bootstrap_rows, sender=self)
