"""Webhook endpoints: an owner creates, changes, rotates the secret of and deletes them.
Each change is audited in the same transaction; no secret ever goes into the audit log, a
log line or an exception message."""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from core import audit
from webhooks.models import (
    WebhookEndpoint,
    new_secret,
    redacted_url,
)

log = logging.getLogger(__name__)

EDITABLE_FIELDS = ("url", "description", "enabled", "event_types")


def create_endpoint(organization, *, url, description="", enabled=True, event_types=()):
    """Save an endpoint with a new secret (on the returned endpoint: show it this once).
    Callers validate the values first (EndpointForm); the URL is checked again before every
    send, since what it resolves to can change."""
    endpoint = WebhookEndpoint(
        organization=organization,
        url=url,
        description=description,
        enabled=enabled,
        event_types=list(event_types),
        secret=new_secret(),
    )
    with transaction.atomic():
        endpoint.save()
        audit.record(
            "webhook.created", target=endpoint, organization=organization, after=_snapshot(endpoint)
        )
    return endpoint


def update_endpoint(endpoint, **values):
    """Apply the editable fields that differ; audit them. False when nothing changed."""
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    changed = {field: value for field, value in values.items() if getattr(endpoint, field) != value}
    if not changed:
        return False
    before = {field: getattr(endpoint, field) for field in changed}
    with transaction.atomic():
        for field, value in changed.items():
            setattr(endpoint, field, value)
        endpoint.save(update_fields=list(changed))
        audit.record(
            "webhook.changed",
            target=endpoint,
            organization=endpoint.organization,
            before=_loggable(before),
            after=_loggable(changed),
        )
    return True


def rotate_secret(endpoint, keep_previous_for=timedelta(0)):
    """Replace the secret (on `endpoint.secret`: show it this once). For `keep_previous_for`
    the previous one signs too (each event carries both signatures), so that the receiver
    can be updated without rejecting events; none, when the old secret has leaked.
    Deliveries still waiting for a retry are signed the same way."""
    now = timezone.now()
    with transaction.atomic():
        overlap_ends = now + keep_previous_for if keep_previous_for else None
        endpoint.previous_secret = endpoint.secret if overlap_ends else ""
        endpoint.previous_secret_expires_at = overlap_ends
        endpoint.secret = new_secret()
        endpoint.secret_created_at = now
        endpoint.save(
            update_fields=[
                "secret",
                "secret_created_at",
                "previous_secret",
                "previous_secret_expires_at",
            ]
        )
        audit.record(
            "webhook.secret_rotated",
            target=endpoint,
            organization=endpoint.organization,
            message_code="webhook_secret_overlap" if overlap_ends else "webhook_secret_replaced",
            message_params={"until": f"{overlap_ends:%Y-%m-%d %H:%M}"} if overlap_ends else {},
            after={"previous_signs_until": overlap_ends},
        )


def delete_endpoint(endpoint):
    """Delete the endpoint and its delivery history; the audit log keeps the fact."""
    with transaction.atomic():
        audit.record(
            "webhook.deleted",
            target=endpoint,
            organization=endpoint.organization,
            before=_snapshot(endpoint),
        )
        endpoint.delete()


def _snapshot(endpoint):
    return _loggable({field: getattr(endpoint, field) for field in EDITABLE_FIELDS})


def _loggable(values):
    # The audit log is read by viewers too: never a URL's path or query (see redacted_url).
    return {
        field: redacted_url(value) if field == "url" else value for field, value in values.items()
    }
