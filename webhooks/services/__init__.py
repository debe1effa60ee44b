"""Every change to webhook endpoints and deliveries goes through here: the views, the
peering signal, the tasks and the recovery schedule call these functions. No secret ever
goes into the audit log, a log line or an exception message.

- endpoints: an owner's endpoints (create, change, rotate the secret, delete), audited;
- events: the deliveries a peering change, a test event or a resend makes;
- sending: one attempt of a delivery (the task's side), with backoff;
- recovery: work lost with a worker or a broker, taken over by a schedule.
"""

from webhooks.services.endpoints import (
    EDITABLE_FIELDS,
    create_endpoint,
    delete_endpoint,
    rotate_secret,
    update_endpoint,
)
from webhooks.services.events import record_peering_event, resend_delivery, send_test_event
from webhooks.services.recovery import recover_stalled_deliveries
from webhooks.services.sending import (
    BACKOFF_FIRST_SECONDS,
    BACKOFF_MAX_SECONDS,
    attempt_delivery,
    backoff_seconds,
    claim_next_attempt,
)

__all__ = [
    "BACKOFF_FIRST_SECONDS",
    "BACKOFF_MAX_SECONDS",
    "EDITABLE_FIELDS",
    "attempt_delivery",
    "backoff_seconds",
    "claim_next_attempt",
    "create_endpoint",
    "delete_endpoint",
    "record_peering_event",
    "recover_stalled_deliveries",
    "resend_delivery",
    "rotate_secret",
    "send_test_event",
    "update_endpoint",
]
