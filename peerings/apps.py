from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class PeeringsConfig(AppConfig):
    name = "peerings"
    verbose_name = _("VPC peering")
    # What customers may filter their audit log by (core.audit.customer_actions).
    audit_actions = [
        ("peering.created", _("Peering created")),
        ("peering.provisioning", _("Peering accepted")),
        ("peering.running", _("Peering running")),
        ("peering.failed", _("Peering failed")),
        ("peering.retried", _("Peering retried")),
        ("peering.delete_requested", _("Peering delete requested")),
        ("peering.deleted", _("Peering deleted")),
        ("peering.peer_deleted", _("Peering deleted by the customer side")),
        ("peering.resynced", _("Peering re-synced from AWS")),
        ("peering.resync_failed", _("Peering re-sync failed")),
        ("peering.requeued", _("Peering re-queued by reconcile")),
        ("peering.retry_offered", _("Peering offered for retry by support")),
        ("support.requested", _("Support asked")),
        ("support.answered", _("Support answered")),
        ("support.closed", _("Support request closed")),
        ("resource.created", _("Resource created")),
        ("resource.moved", _("Resource moved to another peering")),
        ("resource.deleted", _("Resource deleted")),
    ]

    def ready(self):
        # Here, not at the top: signals imports models, which cannot load before the apps.
        from peerings import signals

        post_migrate.connect(signals.keep_bootstrap_rows, sender=self)
