"""The audit log read back as text, to search for what must (or must never) be in it."""

import json

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
