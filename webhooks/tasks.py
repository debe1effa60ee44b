"""django-q2 entry points. Tasks take primary keys and are queued once the transaction that
made the delivery commits; retries are one-off schedules, never sleeps in a worker."""

from django.db import transaction
from django_q.models import Schedule
from django_q.tasks import async_task

from webhooks import services

DELIVER = "webhooks.tasks.deliver"


RECOVER = "webhooks.tasks.recover_stalled_deliveries"


def deliver(delivery_pk, attempt_number=None):
    # attempt_number is None only in tasks queued before it was passed.
    return services.attempt_delivery(delivery_pk, attempt_number)


def enqueue_delivery(delivery_pk, attempt_number):
    transaction.on_commit(lambda: async_task(
        DELIVER, delivery_pk, attempt_number,
        task_name=f"webhook delivery {delivery_pk} attempt {attempt_number}",
    ))


def schedule_delivery(delivery_pk, attempt_number, when):
    # A one-off schedule: django-q2 has no delayed enqueue, and the scheduler survives
    # restarts of the cluster.
    Schedule.objects.create(
        name=f"webhook delivery {delivery_pk} attempt {attempt_number}", func=DELIVER,
        args=repr((delivery_pk, attempt_number)), schedule_type=Schedule.ONCE, repeats=-1,
        next_run=when,
    )


def recover_stalled_deliveries():
    """Run by the django-q2 schedule (made by a migration) every few minutes."""
    found = services.recover_stalled_deliveries()
    return ", ".join(f"{count} {what}" for what, count in sorted(found.items())) or "nothing"
