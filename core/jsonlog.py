"""One JSON object per log line (LOG_FORMAT=json), for log shippers: the time, level,
logger and message, and who was acting (core.audit's context: the request's ID and user in
the web, the same carried into a task by the worker that runs it)."""

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        entry.update(_acting())
        entry.update(_from_request(getattr(record, "request", None)))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def _from_request(request):
    """Django logs a response's 4xx/5xx (django.request) after the middleware has left the
    request's context, but hands the request along: its actor is kept on it."""
    actor = getattr(request, "audit_actor", None)
    return _described(actor) if actor is not None else {}


def _acting():
    # Read only where core.audit is loaded: gunicorn's master logs before Django is set up,
    # and importing it there would load models too early.
    audit = sys.modules.get("core.audit")
    if audit is None:
        return {}
    return _described(audit.current_actor())


def _described(actor):
    acting = {"source": str(actor.source)}
    if actor.request_id:
        acting["request_id"] = actor.request_id
    if actor.name:
        acting["actor"] = actor.name
    if actor.user_id is not None:
        acting["actor_id"] = actor.user_id
    return acting
