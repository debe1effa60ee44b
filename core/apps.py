from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """The platform both apps build on: organizations and their members, the audit log,
    the support admin's shared pieces, sign-in."""

    name = "core"
    verbose_name = _("Organizations and audit")

    def ready(self):
        # Here, not at the top: signals imports models, which cannot load before the apps;
        # its other receivers connect on import.
        from core import languages, signals  # noqa: F401 (languages: its login receiver)

        post_migrate.connect(signals.keep_bootstrap_rows, sender=self)
