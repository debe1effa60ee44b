import ipaddress

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core import reasons
from peerings import validators


class Deployment(models.Model):
    class Plan(models.TextChoices):
        FREE_TRIAL = "free_trial", _("Free trial")
        SHARED = "shared", _("Shared")
        DEDICATED = "dedicated", _("Dedicated")
        ENTERPRISE = "enterprise", _("Enterprise")

    organization = models.ForeignKey(
        "core.Organization", on_delete=models.PROTECT, related_name="deployments"
    )
    name = models.CharField(max_length=100)
    plan = models.CharField(max_length=20, choices=Plan.choices)
    cloud = models.CharField(max_length=10, default="aws", editable=False)
    region = models.CharField(max_length=30, validators=[validators.validate_region])
    vendor_account_id = models.CharField(
        _("vendor AWS account ID"), max_length=12, validators=[validators.validate_account_id]
    )
    vpc_id = models.CharField(_("VPC ID"), max_length=21, validators=[validators.validate_vpc_id])
    cidr = models.CharField(_("CIDR"), max_length=18, validators=[validators.validate_cidr])
    security_group_id = models.CharField(
        _("security group ID"), max_length=20, validators=[validators.validate_security_group_id]
    )
    service_ports = models.JSONField(default=list, validators=[validators.validate_ports])
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="deployment_name_unique_in_org"
            ),
            models.CheckConstraint(
                condition=Q(plan__in=["free_trial", "shared", "dedicated", "enterprise"]),
                name="deployment_plan_valid",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.cidr:
            try:
                self.cidr = validators.normalize_cidr(self.cidr)
            except ValidationError as exc:
                raise ValidationError({"cidr": exc}) from None

    @property
    def peering_allowed(self):
        return self.plan in settings.PEERING_PLANS

    @property
    def network(self):
        return ipaddress.IPv4Network(self.cidr)


class PeeringConnection(models.Model):
    class Status(models.TextChoices):
        # The labels Django would make from the names, translatable (the migrations hold
        # the English ones); customers read the lower-case status words (status_label).
        PENDING = "pending", _("Pending")
        PROVISIONING = "provisioning", _("Provisioning")
        RUNNING = "running", _("Running")
        FAILED = "failed", _("Failed")
        DELETING = "deleting", _("Deleting")
        DELETED = "deleted", _("Deleted")
        PEER_DELETED = "peer_deleted", _("Peer Deleted")

    # A row in one of these states no longer holds its pcx or its customer VPC: a new
    # peering may reuse them.
    ENDED = (Status.DELETED, Status.PEER_DELETED)
    # The worker is busy with the row; neither delete nor retry may start.
    TRANSITIONAL = (Status.PENDING, Status.PROVISIONING, Status.DELETING)
    DELETABLE = (Status.RUNNING, Status.FAILED, Status.PEER_DELETED)
    # Where the customer may ask the vendor's support about what went wrong.
    SUPPORT_ASKABLE = (Status.FAILED, Status.PEER_DELETED)

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="peerings")
    peering_id = models.CharField(
        _("peering ID"), max_length=21, validators=[validators.validate_peering_id]
    )
    customer_account_id = models.CharField(
        _("customer account ID"), max_length=12, validators=[validators.validate_account_id]
    )
    customer_vpc_id = models.CharField(
        _("customer VPC ID"), max_length=21, validators=[validators.validate_vpc_id]
    )
    # Learned from AWS when the request is verified: a VPC may carry several IPv4 blocks.
    customer_cidrs = models.JSONField(_("customer CIDRs"), default=list)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    # Said to the customer: what went wrong and what they can do about it, as a code of
    # core/reasons.py and its parameters, rendered in the reader's language (status_reason).
    status_reason_code = models.CharField(_("status reason code"), max_length=64, blank=True)
    status_reason_params = models.JSONField(_("status reason parameters"), default=dict, blank=True)
    # The English sentence of a row older than the codes that migration 0009 could not read
    # back into one: shown as it is.
    status_reason_text = models.TextField(_("status reason (before codes)"), blank=True)
    # Whether a Retry can succeed (AWS still holds a request we can accept).
    retryable = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["peering_id"],
                condition=~Q(status__in=["deleted", "peer_deleted"]),
                name="peering_one_live_per_pcx",
            ),
            models.UniqueConstraint(
                fields=["deployment", "customer_vpc_id"],
                condition=~Q(status__in=["deleted", "peer_deleted"]),
                name="peering_one_live_per_deployment_and_vpc",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "pending",
                        "provisioning",
                        "running",
                        "failed",
                        "deleting",
                        "deleted",
                        "peer_deleted",
                    ]
                ),
                name="peering_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["status", "status_changed_at"])]
        permissions = [
            ("retry_peering", "Can retry a failed peering"),
            ("resync_peering", "Can re-sync a peering from AWS"),
        ]

    def __str__(self):
        return self.peering_id

    @property
    def is_transitional(self):
        return self.status in self.TRANSITIONAL

    @property
    def can_be_deleted(self):
        """Whether Delete is offered: a stable state (bound resources are named when the
        customer tries, so that they know what to move)."""
        return self.status in self.DELETABLE

    # The status as the customer reads it: the status word (in the reader's language),
    # except where a word alone says too little.
    STATUS_LABELS = {
        Status.PENDING: pgettext_lazy("peering status", "pending"),
        Status.PROVISIONING: pgettext_lazy("peering status", "provisioning"),
        Status.RUNNING: pgettext_lazy("peering status", "running"),
        Status.FAILED: pgettext_lazy("peering status", "failed"),
        Status.DELETING: pgettext_lazy("peering status", "deleting"),
        Status.DELETED: pgettext_lazy("peering status", "deleted"),
        Status.PEER_DELETED: pgettext_lazy("peering status", "deleted in AWS"),
    }
    # What is happening while the worker is busy, and what an end state means.
    STATUS_DETAILS = {
        Status.PENDING: _("Checking and accepting your request in AWS…"),
        Status.PROVISIONING: _("Accepted. Adding routes and security-group rules on our side…"),
        Status.DELETING: _("Removing our routes and rules, then the connection in AWS…"),
    }

    @property
    def status_label(self):
        return self.STATUS_LABELS.get(self.status, self.status)

    @property
    def status_detail(self):
        return self.STATUS_DETAILS.get(self.status, "")

    @property
    def status_reason(self):
        """Why it is in its status, in the active language ("" when nothing needs saying)."""
        return reasons.render(
            self.status_reason_code, self.status_reason_params, fallback=self.status_reason_text
        )

    @property
    def status_reason_english(self):
        return reasons.english(
            self.status_reason_code, self.status_reason_params, fallback=self.status_reason_text
        )

    def move(
        self, to, *, allowed_from, reason_code="", reason_params=None, retryable=False, only_if=None
    ):
        """Compare-and-set: move to `to` only if the row is still in one of `allowed_from`
        (and matches `only_if`, field lookups), with the reason `reason_code` (a code of
        core/reasons.py, or "" for none). Returns True for the caller that won; a second
        worker or a second click gets False."""
        if reason_code:
            reasons.check(reason_code)
        reason_params = dict(reason_params or {})
        now = timezone.now()
        won = PeeringConnection.objects.filter(
            pk=self.pk, status__in=allowed_from, **(only_if or {})
        ).update(
            status=to,
            status_reason_code=reason_code,
            status_reason_params=reason_params,
            status_reason_text="",
            retryable=retryable,
            status_changed_at=now,
        )
        if won:
            self.status, self.retryable = to, retryable
            self.status_reason_code, self.status_reason_params = reason_code, reason_params
            self.status_reason_text = ""
            self.status_changed_at = now
        return bool(won)

    def offer_retry(self):
        """Compare-and-set: a failed peering that could not be retried may be now (support
        fixed the cause). True for the caller that won."""
        won = PeeringConnection.objects.filter(
            pk=self.pk, status=self.Status.FAILED, retryable=False
        ).update(retryable=True)
        if won:
            self.retryable = True
        return bool(won)

    @cached_property
    def latest_support_request(self):
        """The newest support request about this peering, or None. Pages listing peerings
        set it on every row from one query (assigning it), so that no row runs its own."""
        return self.support_requests.order_by("-opened_at", "-pk").first()

    @property
    def has_support_state(self):
        """Whether its row has anything to say of support: a request, or the offer to ask.
        Checked before the row includes its support partial: most rows have nothing, and
        an include per row of 500 cost half the page's time."""
        return self.status in self.SUPPORT_ASKABLE or self.latest_support_request is not None

    @property
    def support_can_be_asked(self):
        latest = self.latest_support_request
        return self.status in self.SUPPORT_ASKABLE and (
            latest is None or latest.state != SupportRequest.State.OPEN
        )


class Resource(models.Model):
    class Kind(models.TextChoices):
        # Product names stay as they are in every language.
        MYSQL = "mysql", "MySQL"
        POSTGRESQL = "postgresql", "PostgreSQL"
        REDIS = "redis", "Redis"
        KAFKA = "kafka", "Kafka"
        MONGODB = "mongodb", "MongoDB"
        HTTP = "http", _("HTTP server")

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="resources")
    # PROTECT: the database refuses to delete a peering that a resource still uses.
    peering = models.ForeignKey(
        PeeringConnection,
        on_delete=models.PROTECT,
        related_name="resources",
        verbose_name=_("VPC peering"),
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    host = models.CharField(max_length=253, validators=[validators.validate_host])
    port = models.PositiveIntegerField(validators=[validators.validate_port])
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(port__gte=1, port__lte=65535), name="resource_port_in_range"
            ),
            models.UniqueConstraint(
                fields=["deployment", "name"], name="resource_name_unique_in_deployment"
            ),
        ]

    def __str__(self):
        return self.name


class SupportRequest(models.Model):
    """A customer asking the vendor's support about a peering only the vendor can fix: the
    failure as it was when they asked, their words, and support's answer. At most one is
    open per peering (the database refuses a second)."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        ANSWERED = "answered", _("Answered")
        CLOSED = "closed", _("Closed")

    WORDS_MAX_LENGTH = 2000

    peering = models.ForeignKey(
        PeeringConnection,
        on_delete=models.PROTECT,
        related_name="support_requests",
        verbose_name=_("peering"),
    )
    # The failure it is about, copied when asked: the peering moves on (a retry, a delete).
    failed_status = models.CharField(_("status when asked"), max_length=20)
    # As the peering holds it (a code of core/reasons.py, or the English of a row older
    # than the codes), rendered in the reader's language by failure_reason.
    failure_reason_code = models.CharField(_("reason code when asked"), max_length=64, blank=True)
    failure_reason_params = models.JSONField(
        _("reason parameters when asked"), default=dict, blank=True
    )
    failure_reason_text = models.TextField(_("reason when asked (before codes)"), blank=True)
    # Plain text, shown escaped, never as HTML.
    words = models.TextField(_("customer's words"), max_length=WORDS_MAX_LENGTH, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    answer = models.TextField(_("support's answer"), blank=True)
    # Support's answer says the cause is fixed: the customer's Retry is offered again.
    cause_fixed = models.BooleanField(_("cause fixed"), default=False)
    # Names frozen when they acted: a renamed or removed account does not rewrite them.
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    opened_by_name = models.CharField(_("opened by (name)"), max_length=150, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    answered_by_name = models.CharField(_("answered by (name)"), max_length=150, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_by_name = models.CharField(_("closed by (name)"), max_length=150, blank=True)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("support request")
        verbose_name_plural = _("support requests")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["peering"], condition=Q(state="open"), name="support_one_open_per_peering"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["open", "answered", "closed"]), name="support_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state="open")
                | Q(state="answered", answered_at__isnull=False)
                | Q(state="closed", closed_at__isnull=False),
                name="support_state_has_its_time",
            ),
        ]
        indexes = [models.Index(fields=["state", "opened_at"])]

    def __str__(self):
        return f"Support request #{self.pk}"

    @property
    def organization(self):
        return self.peering.deployment.organization

    @property
    def failure_reason(self):
        """The failure it is about, in the active language."""
        return reasons.render(
            self.failure_reason_code, self.failure_reason_params, fallback=self.failure_reason_text
        )


class AwsRateBucket(models.Model):
    """Our copy of one of AWS's EC2 token buckets (peerings/ratebudget.py), in the database
    when there is no Redis: every process takes its tokens from the same row."""

    account_id = models.CharField("account ID", max_length=12)
    region = models.CharField(max_length=32)
    action = models.CharField(max_length=100)
    tokens = models.FloatField()
    # Unix seconds of the last refill: the next take adds (now - refilled_at) × rate.
    refilled_at = models.FloatField()
    # RequestLimitExceeded answers AWS gave for this bucket (read by the metrics).
    throttled = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "AWS rate bucket"
        constraints = [
            models.UniqueConstraint(
                fields=["account_id", "region", "action"], name="one_bucket_per_aws_action"
            )
        ]

    def __str__(self):
        return f"{self.action} in {self.region} of {self.account_id}"
