import logging

from django.db import transaction

from webhooks import services

log = logging.getLogger(__name__)


def notify_webhooks(sender, peering, previous, event, **kwargs):
    """peering_status_changed, received inside the transaction of the change: deliveries
    are rows of that transaction, their sends are queued on commit, so a rolled-back change
    notifies nobody. A failure here must never undo a peering change, so it is kept in a
    savepoint of its own and logged."""
    try:
        with transaction.atomic():
            services.record_peering_event(peering, previous)
    except Exception:
        log.exception("webhooks: no deliveries made for peering %s becoming %s",
                      peering.pk, peering.status)
