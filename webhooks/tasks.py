"""django-q2 entry points. Tasks take primary keys and are queued once the transaction that
made the delivery commits; retries are one-off schedules, never sleeps in a worker."""

from django.db import transaction
from django_q.models import Schedule
from django_q.tasks import async_task

from webhooks import services

DELIVER = "webhooks.tasks.deliver"


def deliver(delivery_pk):
    return services.attempt_delivery(delivery_pk)


def enqueue_delivery(delivery):
    pk = delivery.pk
    transaction.on_commit(lambda: async_task(DELIVER, pk, task_name=f"webhook delivery {pk}"))


def schedule_delivery(delivery_pk, attempt_number, when):
    # A one-off schedule: django-q2 has no delayed enqueue, and the scheduler survives
    # restarts of the cluster.
    Schedule.objects.create(
        name=f"webhook delivery {delivery_pk} attempt {attempt_number}", func=DELIVER,
        args=repr((delivery_pk,)), schedule_type=Schedule.ONCE, repeats=-1, next_run=when,
    )
