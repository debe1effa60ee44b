"""The peering side of the support staff's admin: deployments, peerings, resources. The
Support group may view them and run Retry and Re-sync from AWS; only superusers may change
rows, audited (core.admin holds the shared pieces)."""

from django import forms
from django.contrib import admin, messages
from django.db import IntegrityError
from django.http import HttpResponseRedirect

from core.admin import AuditedAdmin, KeepsHistory
from peerings import services
from peerings.models import Deployment, PeeringConnection, Resource


@admin.register(Deployment)
class DeploymentAdmin(KeepsHistory, AuditedAdmin):
    list_display = ["name", "organization", "plan", "region", "vpc_id", "cidr", "vendor_account_id"]
    list_filter = ["plan", "region"]
    list_select_related = ["organization"]
    search_fields = ["name", "vpc_id", "vendor_account_id", "organization__name"]


@admin.register(PeeringConnection)
class PeeringConnectionAdmin(KeepsHistory, AuditedAdmin):
    list_display = [
        "peering_id",
        "organization_name",
        "deployment",
        "customer_vpc_id",
        "customer_account_id",
        "status",
        "status_changed_at",
    ]
    list_filter = ["status", "deployment__plan", "deployment__region"]
    list_select_related = ["deployment__organization"]
    search_fields = [
        "peering_id",
        "customer_vpc_id",
        "customer_account_id",
        "deployment__vpc_id",
        "deployment__organization__name",
        "deployment__name",
    ]
    # A peering changes only through the services (compare-and-set, audited, AWS in step):
    # in the admin every field is read-only, even for superusers; Retry and Re-sync act.
    readonly_fields = [f.name for f in PeeringConnection._meta.fields]
    actions = ["retry", "resync_from_aws"]

    def has_add_permission(self, request):
        return False  # peerings are created by customers' confirmed requests, nowhere else

    @admin.display(description="Organization", ordering="deployment__organization__name")
    def organization_name(self, peering):
        return peering.deployment.organization.name

    def has_retry_permission(self, request):
        return request.user.has_perm("peerings.retry_peering")

    def has_resync_permission(self, request):
        return request.user.has_perm("peerings.resync_peering")

    @admin.action(description="Retry", permissions=["retry"])
    def retry(self, request, queryset):
        retried = [p for p in queryset.select_related("deployment") if services.retry_peering(p)]
        skipped = queryset.count() - len(retried)
        self.message_user(request, f"Retried {len(retried)} peering(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} could not be retried: only failed "
                "peerings whose AWS request can still succeed.",
                messages.WARNING,
            )

    @admin.action(description="Re-sync from AWS", permissions=["resync"])
    def resync_from_aws(self, request, queryset):
        results = services.request_resync(queryset.select_related("deployment__organization"))
        if results is None:
            self.message_user(
                request,
                f"Re-sync of {queryset.count()} peerings queued; each "
                "one's outcome appears in the audit log "
                "(peering.resynced, or peering.resync_failed).",
                messages.INFO,
            )
            return
        for peering, findings, problem in results:
            if problem:
                self.message_user(request, f"{peering}: {problem}.", messages.ERROR)
            else:
                summary = " ".join(findings) or "matches AWS."
                self.message_user(request, f"{peering}: {summary}", messages.INFO)


class ResourceAdminForm(forms.ModelForm):
    """The same rules as the customer's dialog, from the same place (the services): a
    running peering of the same deployment, an IP host inside the peering's customer CIDR.
    The name is left to the model's own unique constraint, which a ModelForm checks."""

    class Meta:
        model = Resource
        fields = ["deployment", "peering", "name", "kind", "host", "port"]

    def clean(self):
        cleaned = super().clean()
        peering = cleaned.get("peering")
        if peering:
            # Without a valid deployment (its own error is shown), check against the
            # peering's own: the other rules still apply.
            deployment = cleaned.get("deployment") or peering.deployment
            services.Refused(
                services.resource_problems(deployment, peering=peering, host=cleaned.get("host"))
            ).add_to(self)
        return cleaned


class DatabaseRefused(Exception):
    """The database refused a save that the form had passed; the message says why."""


@admin.register(Resource)
class ResourceAdmin(AuditedAdmin):
    form = ResourceAdminForm
    list_display = ["name", "kind", "host", "port", "deployment", "peering"]
    list_filter = ["kind"]
    list_select_related = ["deployment", "peering"]
    search_fields = ["name", "host", "peering__peering_id", "deployment__organization__name"]

    def save_model(self, request, obj, form, change):
        # The form saw a running peering, but it may have left `running` since: the
        # database trigger then refuses the row (the audit event rolls back with it).
        try:
            super().save_model(request, obj, form, change)
        except IntegrityError:
            raise DatabaseRefused(_why_refused(obj)) from None

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DatabaseRefused as refused:
            # Raised inside the view's transaction, which has rolled everything back.
            self.message_user(request, f"Nothing was saved: {refused}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def _why_refused(resource):
    return services.peering_left_running(resource) or (
        "the database refused it (a resource of this name or a change to its peering was "
        "made meanwhile). Reload and try again."
    )
