"""Who is acting, and the append-only record of what they did.

The request middleware (or a task, from the context it was queued with) sets the acting
context; services call `record()` and never pass the actor around by hand."""

import contextvars
import hashlib
import ipaddress
import json
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

from core import reasons
from core.models import AuditEvent, Organization

# Any constant: the key of the PostgreSQL advisory lock that orders the hash chain.
_CHAIN_LOCK = 0x50EE_A0D1


@dataclass(frozen=True)
class Actor:
    user_id: int | None = None
    name: str = ""
    source: str = AuditEvent.Source.SYSTEM
    ip: str | None = None
    request_id: str = ""
    # The vendor's staff (is_staff when they acted): customers see them as the vendor's
    # support. Kept on the event, so that a later change of the account changes nothing.
    by_support: bool = False

    def as_task_context(self):
        """What a queued task carries (plain values: django-q2 pickles it, a schedule stores
        its repr), so that its work is credited to whoever asked. Scheduled work that nobody
        asked for stays `system`."""
        source = (
            AuditEvent.Source.SYSTEM
            if self.source == AuditEvent.Source.SYSTEM
            else (AuditEvent.Source.TASK)
        )
        return asdict(replace(self, source=str(source)))


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
    known = user is not None and user.is_authenticated
    return Actor(
        user_id=user.pk if known else None,
        name=user.get_username() if known else "",
        source=source,
        ip=ip,
        request_id=request_id or uuid.uuid4().hex,
        by_support=known and user.is_staff,
    )


def customer_actions():
    """(action, label) of each action a customer's audit log can be filtered by. Each app
    names its own in `audit_actions` on its AppConfig, so that the platform lists them
    without knowing the apps; in INSTALLED_APPS order."""
    return [
        action
        for config in apps.get_app_configs()
        for action in getattr(config, "audit_actions", ())
    ]


def record(
    action,
    *,
    target=None,
    organization=None,
    deployment=None,
    before=None,
    after=None,
    message="",
    message_code="",
    message_params=None,
    actor=None,
):
    """Append one event to the chain. Runs in its own (possibly nested) transaction, so the
    event commits or rolls back with the change it describes. Its message is a code of
    core/reasons.py with its parameters, so that each reader reads it in their language;
    `message` is for free text we did not write (an admin's change message)."""
    if message_code:
        reasons.check(message_code)
    actor = actor or current_actor()
    if deployment is None and target is not None:
        deployment = (
            target
            if isinstance(target, _deployment_model())
            else getattr(target, "deployment", None)
        )
    if organization is None:
        if isinstance(target, Organization):
            organization = target
        elif deployment is not None:
            organization = deployment.organization
    event = AuditEvent(
        actor_id=actor.user_id,
        actor_name=actor.name[:150],
        source=actor.source,
        ip=_normalised_ip(actor.ip),
        request_id=actor.request_id,
        organization=organization,
        deployment=deployment,
        action=action,
        target_type=type(target).__name__ if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        before=_plain(before or {}),
        after=_plain(after or {}),
        message=message,
        message_code=message_code,
        message_params=_plain(message_params or {}),
        by_support=actor.by_support,
    )
    with transaction.atomic():
        _lock_chain()
        event.prev_hash = (
            AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or ""
        )
        event.created_at = timezone.now()
        event.hash = event_hash(event)
        event.save()
    return event


def _deployment_model():
    # The model the log's deployment column points at, without this module importing it.
    return AuditEvent._meta.get_field("deployment").related_model


def event_hash(event):
    content = {
        "created_at": event.created_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "source": event.source,
        "ip": event.ip,
        "request_id": event.request_id,
        "organization_id": event.organization_id,
        "deployment_id": event.deployment_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_repr": event.target_repr,
        "before": event.before,
        "after": event.after,
        "message": event.message,
        "prev_hash": event.prev_hash,
    }
    # Only when set: the hashes of events older than these fields still hold. (getattr: a
    # migration hashes events with the model as it was, which may lack them.)
    if event.by_support:
        content["by_support"] = True
    if getattr(event, "message_code", ""):
        content["message_code"] = event.message_code
        content["message_params"] = event.message_params
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def first_broken_link():
    """Walk the chain oldest first; return (event, why) for the first bad link, or None."""
    previous = ""
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != previous:
            return (
                event,
                "its previous-hash does not match the event before it "
                "(an event was removed or inserted)",
            )
        if event_hash(event) != event.hash:
            return event, "its content does not match its hash (it was changed)"
        previous = event.hash
    return None


def _lock_chain():
    # Two writers must not both read the same "last hash". SQLite already serialises
    # writers (IMMEDIATE transactions); PostgreSQL needs a lock until commit.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])


def _plain(value):
    """JSON as the database will give it back, so the hash survives a round trip."""
    return json.loads(json.dumps(value, default=str))


def _normalised_ip(ip):
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None
