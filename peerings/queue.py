"""Queueing the worker's tasks. The services call these; the tasks themselves (tasks.py)
call the services, so this module names them by their dotted paths and imports neither.

Those paths are stored in the broker and in django-q2 schedules (a retry waiting in a
database outlives a deploy): never rename them. Every task is queued only once the asking
transaction commits, and carries the audit context of whoever asked."""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from core import audit
from peerings.models import PeeringConnection

PROVISION = "peerings.tasks.provision_peering"
DEPROVISION = "peerings.tasks.deprovision_peering"
RESYNC = "peerings.tasks.resync_peering"
RECONCILE_BATCH = "peerings.tasks.reconcile_deployments"


# A step AWS kept failing (or throttling) is tried again after 1 min, 2, 4, then every 5,
# each drawn at random from the upper half of that, so that peerings turned away together
# (a burst, an outage) come back spread out instead of all in the same second.
RETRY_FIRST_SECONDS = 60
RETRY_MAX_SECONDS = 300


def retry_delay(round_number: int) -> int:
    """Seconds before retry round `round_number` (1-based)."""
    ceiling = min(RETRY_FIRST_SECONDS * 2 ** (round_number - 1), RETRY_MAX_SECONDS)
    return round(random.uniform(ceiling / 2, ceiling))


def enqueue_provision(
    peering: PeeringConnection, *, delay: int | None = None, unavailable_rounds: int = 0
) -> None:
    _enqueue(
        PROVISION,
        name=f"provision {peering.peering_id}",
        args=(peering.pk, audit.current_actor().as_task_context(), unavailable_rounds),
        delay=delay,
    )


def enqueue_deprovision(
    peering: PeeringConnection, *, delay: int | None = None, unavailable_rounds: int = 0
) -> None:
    _enqueue(
        DEPROVISION,
        name=f"delete {peering.peering_id}",
        args=(peering.pk, audit.current_actor().as_task_context(), unavailable_rounds),
        delay=delay,
    )


def enqueue_resync(peering: PeeringConnection) -> None:
    _enqueue(
        RESYNC,
        name=f"re-sync {peering.peering_id}",
        args=(peering.pk, audit.current_actor().as_task_context()),
        delay=None,
    )


def enqueue_reconcile(deployment_ids: list[int]) -> None:
    """One batch of the scheduled reconcile (services.reconcile_batches)."""
    _enqueue(
        RECONCILE_BATCH,
        name=f"reconcile deployments {deployment_ids[0]}..{deployment_ids[-1]}",
        args=(list(deployment_ids), audit.current_actor().as_task_context()),
        delay=None,
    )


def _enqueue(func: str, *, name: str, args: tuple, delay: int | None) -> None:
    if delay:
        # A one-off schedule: django-q2 has no delayed enqueue, and the scheduler survives
        # restarts of the cluster.
        transaction.on_commit(
            lambda: Schedule.objects.create(
                name=f"{name} (retry {args[-1]})",
                func=func,
                args=repr(args),
                schedule_type=Schedule.ONCE,
                repeats=-1,
                next_run=timezone.now() + timedelta(seconds=delay),
            )
        )
    else:
        transaction.on_commit(lambda: async_task(func, *args, task_name=name))
