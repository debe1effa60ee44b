from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The platform both apps build on: organizations and their members, the audit log,
    the support admin's shared pieces, sign-in."""

    name = "core"
    verbose_name = "Organizations and audit"

    def ready(self):
        from core import signals  # noqa: F401  (its receivers connect on import)
