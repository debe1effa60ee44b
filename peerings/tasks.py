"""django-q2 entry points, nothing else: queueing them is peerings/queue.py's job. Tasks
take primary keys (never model instances) and run with the audit context of whoever asked.

Their dotted paths are stored in the broker and in schedules: never rename these functions
nor change their positional arguments."""

from core import audit
from peerings import ratebudget, services


def provision_peering(peering_pk, actor, unavailable_rounds=0):
    with audit.acting_as(audit.Actor(**actor)):
        return services.provision(peering_pk, unavailable_rounds=unavailable_rounds)


def deprovision_peering(peering_pk, actor, unavailable_rounds=0):
    with audit.acting_as(audit.Actor(**actor)):
        return services.deprovision(peering_pk, unavailable_rounds=unavailable_rounds)


def resync_peering(peering_pk, actor):
    with audit.acting_as(audit.Actor(**actor)):
        return services.resync_queued(peering_pk)


def reconcile_peerings():
    """Run by the django-q2 schedule (made by a migration): credited to `system`. Re-queues
    stuck peerings and queues one `reconcile_deployments` per batch of deployments, each last
    in line for the AWS budget (customers' dialogs and provisioning go first)."""
    with audit.acting_as(audit.SYSTEM), ratebudget.priority(ratebudget.Priority.RECONCILE):
        return services.queue_reconcile()


def reconcile_deployments(deployment_ids, actor):
    try:
        with (
            audit.acting_as(audit.Actor(**actor)),
            ratebudget.priority(ratebudget.Priority.RECONCILE),
        ):
            return str(services.reconcile_deployments(deployment_ids))
    finally:
        services.reconcile_batch_done()
