"""Who is acting, and the append-only record of what they did.

The request middleware (or a task, from the context it was queued with) sets the acting
context; services call `record()` and never pass the actor around by hand."""

import contextvars
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

from peerings.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    user_id: int | None = None
    name: str = ""
    source: str = AuditEvent.Source.SYSTEM
    ip: str | None = None
    request_id: str = ""

    def as_task_context(self):
        """What a queued task carries, so that its work is credited to whoever asked."""
        return asdict(replace(self, source=AuditEvent.Source.TASK))


SYSTEM = Actor(name="system")
_current = contextvars.ContextVar("audit_actor", default=SYSTEM)


def current_actor():
    return _current.get()


@contextmanager
def acting_as(actor):
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)


def actor_for_user(user, source, ip=None, request_id=""):
    return Actor(
        user_id=user.pk if user and user.is_authenticated else None,
        name=user.get_username() if user and user.is_authenticated else "",
        source=source,
        ip=ip,
        request_id=request_id or uuid.uuid4().hex,
    )


def record(action, *, target=None, organization=None, before=None, after=None, message=""):
    actor = current_actor()
    if organization is None and target is not None:
        organization = _organization_of(target)
    return AuditEvent.objects.create(
        actor_id=actor.user_id,
        actor_name=actor.name,
        source=actor.source,
        ip=actor.ip,
        request_id=actor.request_id,
        organization=organization,
        action=action,
        target_type=type(target).__name__ if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        before=before or {},
        after=after or {},
        message=message,
    )


def _organization_of(target):
    for path in ("organization", "deployment.organization"):
        obj = target
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        return obj
    return None
