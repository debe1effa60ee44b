"""Making, finding and revoking API keys; every change is audited. A secret is `ppk_`
and 43 URL-safe characters (32 random bytes): secret scanners and people recognise a
leaked one by its prefix. Only its SHA-256 is stored."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from api.models import ApiKey
from core import audit
from core.models import Membership

SECRET_PREFIX = "ppk_"
# What the list shows of a secret: the marker and 8 random characters.
SHOWN_CHARACTERS = len(SECRET_PREFIX) + 8
# Last use is written at most this often per key (and whenever the address changes), so
# that a busy key does not write a row on every request.
LAST_USE_EVERY = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _snapshot(key: ApiKey) -> dict:
    return {
        "name": key.name,
        "role": key.role,
        "prefix": key.prefix,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
    }


def create_key(organization, *, name, role, expires_at, user) -> tuple[ApiKey, str]:
    """A new key and its secret, which is returned here and never again."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        key = ApiKey.objects.create(
            organization=organization,
            name=name,
            role=role,
            expires_at=expires_at,
            prefix=secret[:SHOWN_CHARACTERS],
            secret_hash=hash_secret(secret),
            created_by=user,
        )
        audit.record("api_key.created", target=key, organization=organization, after=_snapshot(key))
    return key, secret


def revoke_key(key: ApiKey) -> bool:
    """Compare-and-set: True for the caller that revoked it, False if it already was."""
    now = timezone.now()
    with transaction.atomic():
        won = ApiKey.objects.filter(pk=key.pk, revoked_at=None).update(revoked_at=now)
        if won:
            key.revoked_at = now
            audit.record(
                "api_key.revoked",
                target=key,
                organization=key.organization,
                before=_snapshot(key),
            )
    return bool(won)


def key_for_secret(secret: str) -> ApiKey | None:
    """The usable key with this secret, or None (unknown, revoked or expired, or its
    creator deactivated or no longer in its organization: a key never outlives its
    maker's access). The creator's current role comes with it, in the same query
    (ApiKey.can_act)."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    creator_role = Membership.objects.filter(
        user=OuterRef("created_by"), organization=OuterRef("organization")
    ).values("role")[:1]
    key = (
        ApiKey.objects.select_related("organization", "created_by")
        .annotate(creators_role=Subquery(creator_role))
        .filter(secret_hash=hash_secret(secret))
        .first()
    )
    if key is None or not key.is_usable:
        return None
    if not key.created_by.is_active or key.creators_role is None:
        return None
    key.creator_role = key.creators_role
    return key


def note_use(key: ApiKey, ip: str | None) -> None:
    """Record the key's last use: one UPDATE a minute at most, or when the address moves."""
    now = timezone.now()
    if (
        key.last_used_at is not None
        and now - key.last_used_at < LAST_USE_EVERY
        and key.last_used_ip == ip
    ):
        return
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now, last_used_ip=ip)
    key.last_used_at, key.last_used_ip = now, ip
