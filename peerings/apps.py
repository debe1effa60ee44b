from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class PeeringsConfig(AppConfig):
    name = "peerings"
    verbose_name = _("VPC peering")
    # What customers may filter their audit log by (core.audit.customer_actions).
    audit_actions = [
        ("peering.created", "Peering created"),
        ("peering.provisioning", "Peering accepted"),
        ("peering.running", "Peering running"),
        ("peering.failed", "Peering failed"),
        ("peering.retried", "Peering retried"),
        ("peering.delete_requested", "Peering delete requested"),
        ("peering.deleted", "Peering deleted"),
        ("peering.peer_deleted", "Peering deleted by the customer side"),
        ("peering.resynced", "Peering re-synced from AWS"),
        ("peering.resync_failed", "Peering re-sync failed"),
        ("peering.requeued", "Peering re-queued by reconcile"),
        ("peering.retry_offered", "Peering offered for retry by support"),
        ("support.requested", "Support asked"),
        ("support.answered", "Support answered"),
        ("support.closed", "Support request closed"),
        ("resource.created", "Resource created"),
        ("resource.moved", "Resource moved to another peering"),
        ("resource.deleted", "Resource deleted"),
    ]

    def ready(self):
        # Here, not at the top: signals imports models, which cannot load before the apps.
        from peerings import signals

        post_migrate.connect(signals.keep_bootstrap_rows, sender=self)
