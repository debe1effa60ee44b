from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    """The public REST API (/api/v1/) and the organizations' API keys it is used with."""

    name = "api"
    verbose_name = "API"
    # What customers may filter their audit log by (core.audit.customer_actions).
    audit_actions = [
        ("api_key.created", _("API key created")),
        ("api_key.revoked", _("API key revoked")),
    ]

    def ready(self):
        # Registers the Bearer scheme with drf-spectacular (an extension registers itself
        # on import).
        from api import schema, signals  # noqa: F401

        post_migrate.connect(signals.keep_bootstrap_rows, sender=self)
