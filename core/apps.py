from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The platform both apps build on: organizations and their members, the audit log,
    the support admin's shared pieces, sign-in."""

    name = "core"
    verbose_name = "Organizations and audit"

    def ready(self):
        from django.db.models.signals import post_migrate

        from core import signals  # its other receivers connect on import

        post_migrate.connect(signals.keep_bootstrap_rows, sender=self)
