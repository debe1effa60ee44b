import secrets
import uuid
from urllib.parse import urlsplit

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from core import reasons
from core.models import Organization
from webhooks import validators
from webhooks.events import EVENT_TYPES


def redacted_url(url):
    parts = urlsplit(url)
    # Keyed: a plain hash of a URL with a short token could be reversed by trying tokens.
    fingerprint = salted_hmac("webhook-url-fingerprint", url, algorithm="sha256").hexdigest()[:8]
    hidden = "/…" if (parts.path not in ("", "/") or parts.query) else "/"
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{hidden} (#{fingerprint})"


def new_secret():
    # The prefix lets secret scanners (and people) recognise the value if it leaks.
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="webhook_endpoints",
        verbose_name=_("organization"),
    )
    url = models.URLField(_("URL"), max_length=2000, validators=[validators.validate_webhook_url])
    description = models.CharField(_("description"), max_length=200, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    event_types = models.JSONField(
        _("event types"), default=list, validators=[validators.validate_event_types]
    )
    # Kept in clear because signing needs it. Never rendered after the response that
    # created or rotated it, never logged, never audited; not editable, so no form or
    # admin page includes it.
    secret = models.CharField(max_length=100, editable=False)
    secret_created_at = models.DateTimeField(
        _("secret created at"), default=timezone.now, editable=False
    )
    # After a rotation the old secret may sign beside the new one for a while, so that a
    # receiver keeps accepting events until it is updated. Same care as `secret`.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(secret=""), name="webhook_endpoint_has_secret"),
        ]

    def __str__(self):
        return self.redacted_url

    @property
    def redacted_url(self):
        """The URL without its path and query, which often carry a token (Slack, Teams,
        Zapier URLs are credentials in themselves), and a fingerprint that tells two URLs
        apart: for logs, the audit log and people other than the owners."""
        return redacted_url(self.url)

    def signing_secrets(self, now=None):
        """The secrets each event is signed with: the current one, and the previous one
        while its overlap lasts."""
        now = now or timezone.now()
        if (
            self.previous_secret
            and self.previous_secret_expires_at
            and (now < self.previous_secret_expires_at)
        ):
            return [self.secret, self.previous_secret]
        return [self.secret]

    @property
    def previous_secret_signs_until(self):
        """When the previous secret stops signing, while it still does; else None."""
        if len(self.signing_secrets()) > 1:
            return self.previous_secret_expires_at
        return None

    @property
    def event_type_labels(self):
        labels = dict(EVENT_TYPES)
        return [labels.get(event_type, event_type) for event_type in self.event_types]


class WebhookDelivery(models.Model):
    """One event for one endpoint, however many attempts it takes."""

    class Status(models.TextChoices):
        # In their own context: a peering's "Pending" (等待中) is not a delivery's (待发送).
        PENDING = "pending", pgettext_lazy("webhook delivery status", "Pending")
        SUCCEEDED = "succeeded", pgettext_lazy("webhook delivery status", "Succeeded")
        FAILED = "failed", pgettext_lazy("webhook delivery status", "Failed")
        # The endpoint was disabled before the delivery went out.
        CANCELLED = "cancelled", pgettext_lazy("webhook delivery status", "Cancelled")

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("endpoint"),
    )
    # The event's ID (body `id`, header Webhook-Id): the same for every endpoint that gets
    # the event and for every attempt, so receivers can drop duplicates.
    event_id = models.UUIDField(_("event ID"), default=uuid.uuid4)
    event_type = models.CharField(_("event type"), max_length=40)
    # The exact JSON text sent, fixed when the event happened: retries send the same bytes.
    body = models.TextField(_("body"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempt_count = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    # While pending: when its next step (the queued send, the scheduled retry or the attempt
    # being made) counts as lost with a worker or a broker, and the recovery sweep takes over.
    presumed_lost_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhook_delivery_one_per_event_and_endpoint"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed", "cancelled"]),
                name="webhook_delivery_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_recent"),
            models.Index(
                fields=["presumed_lost_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_pending_due",
            ),
        ]

    def __str__(self):
        return f"{self.event_type} {self.event_id}"


class WebhookAttempt(models.Model):
    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", pgettext_lazy("webhook attempt outcome", "succeeded")
        RETRYING = "retrying", pgettext_lazy("webhook attempt outcome", "failed, will retry")
        FAILED = "failed", pgettext_lazy("webhook attempt outcome", "failed")

    delivery = models.ForeignKey(
        WebhookDelivery,
        on_delete=models.CASCADE,
        related_name="attempts",
        verbose_name=_("delivery"),
    )
    number = models.PositiveSmallIntegerField(_("number"))
    started_at = models.DateTimeField(_("started at"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    # What went wrong: a code of core/reasons.py and its parameters, said in the reader's
    # language (`error`). Attempts made before the codes keep their English sentence in
    # error_text, which `error` shows as it is.
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_params = models.JSONField(_("error parameters"), default=dict, blank=True)
    error_text = models.TextField(_("error (before codes)"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="webhook_attempt_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=["succeeded", "retrying", "failed"]),
                name="webhook_attempt_outcome_valid",
            ),
        ]

    def __str__(self):
        # Shown on the admin's delivery page, one per attempt row; never stored.
        return gettext("attempt %(number)s of %(delivery)s") % {
            "number": self.number,
            "delivery": self.delivery,
        }

    @property
    def error(self):
        """What went wrong, in the active language; "" when nothing did."""
        return reasons.render(self.error_code, self.error_params, fallback=self.error_text)

    @property
    def error_english(self):
        return reasons.english(self.error_code, self.error_params, fallback=self.error_text)

    @staticmethod
    def error_fields(reason):
        """The fields that store `reason` (a core.reasons.Reason, or None for no error)."""
        if reason is None:
            return {"error_code": "", "error_params": {}}
        return {"error_code": reason.code, "error_params": dict(reason.params)}
