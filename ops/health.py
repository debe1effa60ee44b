"""/healthz and /readyz, for load balancers and orchestrators.

/healthz: the process answers (no database, nothing else): restart it when this fails.
/readyz: the database answers, every migration is applied, the broker answers and a worker
ran the heartbeat task (every minute) within WORKER_HEARTBEAT_MAX_AGE seconds. Answers name
each check and say ok or what is wrong in a few words; never an exception's text (a broker
URL may hold a password), which goes to the log."""

import logging

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from ops.models import Heartbeat
from ops.tasks import WORKER

log = logging.getLogger(__name__)

OK = "ok"

# Once every migration is applied it stays so for this process (its code does not change):
# only the first readiness checks read the migration files.
_migrations_applied = False


def liveness():
    return {"status": OK}


def readiness():
    """(ready, {check: result})."""
    checks = {"database": _database()}
    if checks["database"] == OK:
        checks["migrations"] = _migrations()
        checks["worker_heartbeat"] = _heartbeat()
    else:
        checks["migrations"] = checks["worker_heartbeat"] = "not checked (no database)"
    checks["broker"] = _broker()
    return all(result == OK for result in checks.values()), checks


def _database():
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        log.exception("readiness: the database does not answer")
        return "unreachable"
    return OK


def _migrations():
    global _migrations_applied
    if not _migrations_applied:
        try:
            executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except Exception:
            log.exception("readiness: could not read the migrations")
            return "unknown"
        if pending:
            return f"{len(pending)} not applied"
        _migrations_applied = True
    return OK


def _broker():
    from django_q.brokers import get_broker

    try:
        if get_broker().ping():
            return OK
    except Exception:
        log.exception("readiness: the broker does not answer")
    return "unreachable"


def _heartbeat():
    beat_at = Heartbeat.objects.filter(name=WORKER).values_list("beat_at", flat=True).first()
    if beat_at is None:
        return "none yet"
    age = (timezone.now() - beat_at).total_seconds()
    if age > settings.WORKER_HEARTBEAT_MAX_AGE:
        return f"stale ({int(age)} s old)"
    return OK
