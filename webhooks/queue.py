"""Queueing webhook sends. The services call these; the tasks (tasks.py) call the services,
so this module names them by their dotted paths and imports neither.

Those paths are stored in the broker and in django-q2 schedules (a retry waiting in a
database outlives a deploy): never rename them."""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.tasks import async_task

DELIVER = "webhooks.tasks.deliver"
RECOVER = "webhooks.tasks.recover_stalled_deliveries"


def cluster():
    """The webhook cluster's name (its queue): `<name>-webhooks` (settings' ALT_CLUSTERS),
    so that a slow receiver never holds up a worker of the AWS work."""
    return Conf.PREFIX + settings.WEBHOOK_CLUSTER_SUFFIX


def enqueue_delivery(delivery_pk: int, attempt_number: int) -> None:
    """Send attempt `attempt_number` once the current transaction commits."""
    transaction.on_commit(
        lambda: async_task(
            DELIVER,
            delivery_pk,
            attempt_number,
            task_name=f"webhook delivery {delivery_pk} attempt {attempt_number}",
            cluster=cluster(),
        )
    )


def schedule_delivery(delivery_pk: int, attempt_number: int, when: datetime) -> None:
    """Send attempt `attempt_number` at `when`. The schedule is a row of the current
    transaction: it commits, or rolls back, with the attempt that asked for it."""
    # A one-off schedule: django-q2 has no delayed enqueue, and the scheduler survives
    # restarts of the cluster.
    Schedule.objects.create(
        name=f"webhook delivery {delivery_pk} attempt {attempt_number}",
        func=DELIVER,
        args=repr((delivery_pk, attempt_number)),
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=when,
        cluster=cluster(),  # run by the webhook cluster's scheduler, onto its queue
    )
