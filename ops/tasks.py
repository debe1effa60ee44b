"""django-q2 entry points of the ops app. Their dotted paths are stored in schedules: never
rename them."""

from django.utils import timezone

from ops.models import Heartbeat

WORKER = "worker"


def heartbeat():
    """Run every minute by the "Worker heartbeat" schedule (ops.signals): /readyz reads it."""
    Heartbeat.objects.update_or_create(name=WORKER, defaults={"beat_at": timezone.now()})
