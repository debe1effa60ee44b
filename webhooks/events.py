"""The events webhooks announce. Subscribable types are those a peering status change
produces; the test event is sent on request, whatever the endpoint subscribes to."""

EVENT_TYPES = [
    ("peering.running", "Peering running"),
    ("peering.failed", "Peering failed"),
    ("peering.deleted", "Peering deleted"),
    ("peering.peer_deleted", "Peering deleted on the customer side"),
]
TEST_EVENT = "webhook.test"

# The peering status (PeeringConnection.Status value) that produces each event.
EVENT_FOR_STATUS = {
    "running": "peering.running",
    "failed": "peering.failed",
    "deleted": "peering.deleted",
    "peer_deleted": "peering.peer_deleted",
}
