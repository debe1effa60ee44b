"""Counting what happened from the rows that record it (audit events, webhook attempts), so
that no service has to know about metrics. Counted when the row is written, not on commit:
an audit event is written last, with the change it records, so a rollback after it is rare,
and on_commit callbacks are what tests count as queued tasks."""

from django_q.models import Schedule

from ops import metrics

HEARTBEAT_SCHEDULE = "Worker heartbeat"

# Audit actions of reconcile's findings (recorded as `system` when the schedule runs it).
RECONCILE_FINDINGS = {
    "peering.peer_deleted",
    "peering.resynced",
    "peering.requeued",
    "peering.resync_failed",
}


def count_audit_event(sender, instance, created, **kwargs):
    if not created:
        return
    action = instance.action
    if action == "user.login_locked":
        scope = str((instance.after or {}).get("scope", "")).replace(" ", "_")
        metrics.LOGIN_LOCKOUTS.labels(scope=scope).inc()
    elif action == "peering.running" and instance.target_id:
        metrics.observe_provisioned(instance.target_id, instance.created_at)
    elif action in RECONCILE_FINDINGS and instance.source == "system":
        metrics.RECONCILE_FINDINGS.labels(kind=action.removeprefix("peering.")).inc()


def count_webhook_attempt(sender, instance, created, **kwargs):
    if created:
        metrics.WEBHOOK_ATTEMPTS.labels(outcome=str(instance.outcome)).inc()


def keep_heartbeat_schedule(sender, **kwargs):
    """Made after every `migrate` (and test flush), like the other apps' standing rows."""
    Schedule.objects.get_or_create(
        name=HEARTBEAT_SCHEDULE,
        defaults={
            "func": "ops.tasks.heartbeat",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
