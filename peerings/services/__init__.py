"""Every state change of a peering goes through here: the views, the admin and the tasks
all call these functions, and each change is audited in the same transaction.

AWS is never called inside a database transaction: AWS work happens first (or in the
worker), then a short transaction records it. Work for the worker is queued through
peerings.queue, once the transaction that asked for it commits.

One module per capability. Callers import this package, which names the public functions;
a test patches a constant in the module that reads it (services.reconciling, ...):
- checks: what a new peering must pass before anything is saved (VerifiedRequest);
- transitions: compare-and-set status changes, audited and signalled;
- creating: a verified request becomes a pending peering; Retry;
- provisioning: the worker accepts the request and adds the vendor side;
- deleting: when a delete is allowed, and the worker that takes the vendor side down;
- resources: the rules for binding a resource to a peering;
- reconciling: comparing our records with AWS (Re-sync, the reconcile schedule);
- support: a customer's support request about a failure, answered and closed by support."""

from peerings.services.checks import (
    Errors,
    Refused,
    UnverifiedRequest,
    VerifiedRequest,
    check_new_peering,
)
from peerings.services.creating import create_peering, retry_peering
from peerings.services.deleting import (
    DeleteRefused,
    delete_refusal,
    deprovision,
    remove_vendor_side,
    request_delete,
)
from peerings.services.provisioning import MAX_UNAVAILABLE_ROUNDS, provision
from peerings.services.reconciling import (
    AwsView,
    ReconcileReport,
    queue_reconcile,
    reconcile,
    reconcile_backlog,
    reconcile_batch_done,
    reconcile_batches,
    reconcile_deployments,
    request_resync,
    requeue_stuck,
    resync,
    resync_queued,
    state_in_aws,
)
from peerings.services.resources import (
    add_resource,
    delete_resource,
    move_resource,
    peering_left_running,
    resource_problems,
)
from peerings.services.support import (
    SupportRefused,
    answer_support_request,
    ask_support,
    ask_support_refusal,
    close_support_request,
    offer_retry,
)
from peerings.services.transitions import fail, peering_status_changed, transition

__all__ = [
    "AwsView",
    "MAX_UNAVAILABLE_ROUNDS",
    "DeleteRefused",
    "Errors",
    "ReconcileReport",
    "Refused",
    "SupportRefused",
    "UnverifiedRequest",
    "VerifiedRequest",
    "add_resource",
    "answer_support_request",
    "ask_support",
    "ask_support_refusal",
    "check_new_peering",
    "close_support_request",
    "create_peering",
    "delete_refusal",
    "delete_resource",
    "deprovision",
    "fail",
    "move_resource",
    "offer_retry",
    "peering_left_running",
    "peering_status_changed",
    "provision",
    "queue_reconcile",
    "reconcile",
    "reconcile_backlog",
    "reconcile_batch_done",
    "reconcile_batches",
    "reconcile_deployments",
    "remove_vendor_side",
    "request_delete",
    "request_resync",
    "requeue_stuck",
    "resource_problems",
    "resync",
    "resync_queued",
    "retry_peering",
    "state_in_aws",
    "transition",
]
