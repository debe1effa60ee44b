from django.apps import AppConfig


class PeeringsConfig(AppConfig):
    name = "peerings"
    verbose_name = "VPC peering"

    def ready(self):
        from peerings import signals  # noqa: F401  (connects the receivers)
