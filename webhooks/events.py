"""The events webhooks announce. Subscribable types are those a peering status change
produces; the test event is sent on request, whatever the endpoint subscribes to."""

from django.utils.translation import gettext_lazy as _

EVENT_TYPES = [
    ("peering.running", _("Peering running")),
    ("peering.failed", _("Peering failed")),
    ("peering.deleted", _("Peering deleted")),
    ("peering.peer_deleted", _("Peering deleted on the customer side")),
]
TEST_EVENT = "webhook.test"

# The peering status (PeeringConnection.Status value) that produces each event.
EVENT_FOR_STATUS = {
    "running": "peering.running",
    "failed": "peering.failed",
    "deleted": "peering.deleted",
    "peer_deleted": "peering.peer_deleted",
}
