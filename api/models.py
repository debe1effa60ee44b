"""Organization API keys, and the answers kept for an `Idempotency-Key`."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ApiKey(models.Model):
    """A key acts for its organization with the role it was given. Only a hash of the
    secret is stored: the secret is shown once, when the key is made (api.keys)."""

    class Role(models.TextChoices):
        MEMBER = "member", _("Member")
        VIEWER = "viewer", _("Viewer")

    organization = models.ForeignKey(
        "core.Organization",
        on_delete=models.PROTECT,
        related_name="api_keys",
        verbose_name=_("organization"),
    )
    name = models.CharField(_("name"), max_length=100)
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    # The secret's first characters, so people can tell their keys apart (and match a
    # leaked one); far too short to be guessed from.
    prefix = models.CharField(_("prefix"), max_length=16)
    # SHA-256 of the whole secret: a secret of 32 random bytes needs no slow hash.
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(_("last used from"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-id"]
        # Support's one change to a key (api/admin.py); owners revoke theirs in the portal.
        permissions = [("revoke_apikey", "Can revoke an API key")]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=["member", "viewer"]), name="api_key_role_valid"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    # The creator's current role in the organization, set by api.keys.key_for_secret; None
    # elsewhere (and then the key cannot act).
    creator_role: str | None = None

    @property
    def can_act(self):
        """A member key, made by someone who may still change things: a creator demoted to
        viewer demotes the key too."""
        return self.role == self.Role.MEMBER and self.creator_role in ("owner", "member")

    @property
    def is_expired(self):
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self):
        return self.revoked_at is None and not self.is_expired


class IdempotentRequest(models.Model):
    """The answer given to a POST made with an `Idempotency-Key`, kept for a day
    (api.idempotency): the same key and body get it again, nothing is done twice.
    `status` is 0 while the first request is still being answered."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, path and body: the same key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(default=0)
    body = models.JSONField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_once_per_key"),
        ]

    def __str__(self):
        return f"{self.key} ({self.status or 'in progress'})"
