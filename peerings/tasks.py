"""django-q2 entry points. Tasks take primary keys (never model instances), carry the
audit context of whoever asked, and are queued only once the asking transaction commits."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from core import audit
from peerings import services


def provision_peering(peering_pk, actor, unavailable_rounds=0):
    with audit.acting_as(audit.Actor(**actor)):
        return services.provision(peering_pk, unavailable_rounds)


def enqueue_provision(peering, delay=None, unavailable_rounds=0):
    _enqueue("peerings.tasks.provision_peering", f"provision {peering.peering_id}",
             (peering.pk, audit.current_actor().as_task_context(), unavailable_rounds), delay)


def _enqueue(func, name, args, delay):
    if delay:
        # A one-off schedule: django-q2 has no delayed enqueue, and the scheduler survives
        # restarts of the cluster.
        transaction.on_commit(lambda: Schedule.objects.create(
            name=f"{name} (retry {args[-1]})", func=func, args=repr(args),
            schedule_type=Schedule.ONCE, repeats=-1,
            next_run=timezone.now() + timedelta(seconds=delay),
        ))
    else:
        transaction.on_commit(lambda: async_task(func, *args, task_name=name))


def deprovision_peering(peering_pk, actor, unavailable_rounds=0):
    with audit.acting_as(audit.Actor(**actor)):
        return services.deprovision(peering_pk, unavailable_rounds)


def enqueue_deprovision(peering, delay=None, unavailable_rounds=0):
    _enqueue("peerings.tasks.deprovision_peering", f"delete {peering.peering_id}",
             (peering.pk, audit.current_actor().as_task_context(), unavailable_rounds), delay)


def resync_peering(peering_pk, actor):
    with audit.acting_as(audit.Actor(**actor)):
        return services.resync_queued(peering_pk)


def enqueue_resync(peering):
    _enqueue("peerings.tasks.resync_peering", f"re-sync {peering.peering_id}",
             (peering.pk, audit.current_actor().as_task_context()), None)


def reconcile_peerings():
    """Run by the django-q2 schedule (made by a migration): credited to `system`."""
    with audit.acting_as(audit.SYSTEM):
        return str(services.reconcile())
