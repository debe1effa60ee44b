"""The audit log read back as text, to search for what must (or must never) be in it."""

import json
from contextlib import contextmanager

from django.db import connection

from core.models import AuditEvent


def event_text(event):
    """Every stored value of an audit event, text and JSON alike, as one string to search."""
    values = []
    for field in AuditEvent._meta.concrete_fields:
        value = getattr(event, field.attname)
        values.append(
            json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
        )
    return "\n".join(values)


def all_events_text():
    """The whole audit log, oldest first, as one string to search."""
    return "\n".join(event_text(e) for e in AuditEvent.objects.order_by("id"))


@contextmanager
def behind_the_models_back():
    """Raw SQL that the append-only trigger would refuse on PostgreSQL: switch it off for
    the duration (inside the test's transaction, so the switch is rolled back as well)."""
    postgresql = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgresql:
            # ALTER TABLE refuses while deferred foreign-key checks are pending: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "ALTER TABLE peerings_auditevent DISABLE TRIGGER peerings_auditevent_append_only"
            )
        yield cursor
        if postgresql:
            cursor.execute(
                "ALTER TABLE peerings_auditevent ENABLE TRIGGER peerings_auditevent_append_only"
            )
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
