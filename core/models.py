"""Organizations, their members and the audit log: what every app of the portal hangs off.

These models began in the `peerings` app and moved here without touching the database:
their tables keep the names they were created with (`db_table`), so the rows, the foreign
keys other tables hold to them, the PostgreSQL append-only trigger on the audit table and the
audit hash chain all stay as they were (see core/migrations/0001)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import reasons


class Organization(models.Model):
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "peerings_organization"  # created by the peerings app (see the module)
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MEMBER = "member", _("Member")
        VIEWER = "viewer", _("Viewer")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        db_table = "peerings_membership"  # created by the peerings app (see the module)
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="membership_one_per_user_and_org"
            ),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "member", "viewer"]), name="membership_role_valid"
            ),
        ]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def can_act(self):
        return self.role in (self.Role.OWNER, self.Role.MEMBER)


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are never changed.")

    def delete(self):
        raise AppendOnlyError("Audit events are never deleted.")


class AppendOnlyError(Exception):
    pass


class AuditEvent(models.Model):
    """Append-only: the model refuses updates and deletes, and on PostgreSQL so does a
    trigger. Each row carries a SHA-256 over its content and the previous row's hash, so
    `manage.py verify_audit_chain` finds any row changed behind the model's back."""

    class Source(models.TextChoices):
        WEB = "web", _("Web")
        ADMIN = "admin", _("Admin")
        TASK = "task", _("Task")
        SYSTEM = "system", _("System")
        API = "api", _("API")

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # PROTECT, not SET_NULL: the log is append-only, so deleting a user or an organization
    # must not rewrite it. Deactivate users instead of deleting them.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # Frozen at the time of the event: renaming a user later does not rewrite history.
    actor_name = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    # Acted by the vendor's staff (see audit.Actor.by_support).
    by_support = models.BooleanField(default=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The one column of the log that names a peerings model: customers filter their log by
    # deployment, and its index serves that. A string reference, so this module imports
    # nothing of peerings.
    deployment = models.ForeignKey(
        "peerings.Deployment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    # Events before message codes keep their English sentence here; newer ones store a code
    # of core/reasons.py and its parameters instead, rendered in the reader's language.
    message = models.TextField(blank=True)
    message_code = models.CharField(max_length=64, blank=True)
    message_params = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        # Created by the peerings app (see the module); the PostgreSQL append-only trigger
        # (peerings/migrations/0004) is on this table by name.
        db_table = "peerings_auditevent"
        # Newest first by id: ids follow the hash chain, which is written in one order.
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["organization", "-id"], name="audit_org_id"),
            models.Index(fields=["organization", "deployment", "-id"], name="audit_org_dep_id"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_repr}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are never deleted.")

    @property
    def message_text(self):
        """The message in the active language (an old event's stored English as it is)."""
        return reasons.render(self.message_code, self.message_params, fallback=self.message)


class AuditCheckpoint(models.Model):
    """The audit chain's head at one moment: its newest event, that event's hash and how
    many events there were. The chain alone cannot show rows removed from its newest end
    (what is left still links up) nor an emptied table; `verify_audit_chain` compares the
    log with every checkpoint and finds both. Written on a schedule (core.tasks), which also
    logs it for an operator to keep elsewhere.

    Append-only like the log (the model refuses, and on PostgreSQL a trigger). The head is
    a plain number, not a foreign key: a checkpoint must outlive the rows it vouches for,
    and a TRUNCATE of the log must not be able to cascade to it."""

    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # None when the log was empty.
    head_event_id = models.BigIntegerField(_("newest event"), null=True, blank=True)
    head_hash = models.CharField(_("its hash"), max_length=64, blank=True)
    event_count = models.PositiveBigIntegerField(_("events"))

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit checkpoint")
        verbose_name_plural = _("audit checkpoints")
        ordering = ["-id"]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S}: {self.event_count} events"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit checkpoints are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit checkpoints are never deleted.")


class UserPreference(models.Model):
    """What a person chose for themselves, kept on the server so that it follows them to
    every session and device (a cookie would stay on one browser)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference"
    )
    # One of settings.LANGUAGES; blank: the browser's Accept-Language decides.
    language = models.CharField(_("language"), max_length=10, blank=True)

    class Meta:
        verbose_name = _("user preference")
        verbose_name_plural = _("user preferences")

    def __str__(self):
        return f"{self.user}: {self.language or 'browser language'}"
