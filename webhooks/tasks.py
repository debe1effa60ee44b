"""django-q2 entry points, nothing else: queueing them is webhooks/queue.py's job. Tasks
take primary keys; retries are one-off schedules, never sleeps in a worker.

Their dotted paths are stored in the broker and in schedules: never rename these functions
nor change their positional arguments."""

from webhooks import services


def deliver(delivery_pk, attempt_number=None):
    # attempt_number is None only in tasks queued before it was passed.
    return services.attempt_delivery(delivery_pk, attempt_number)


def recover_stalled_deliveries():
    """Run by the django-q2 schedule (made by a migration) every few minutes."""
    found = services.recover_stalled_deliveries()
    return ", ".join(f"{count} {what}" for what, count in sorted(found.items())) or "nothing"
