"""The peering side of the support staff's admin: deployments, peerings, resources and the
support requests' queue. The Support group may view them, run Retry and Re-sync from AWS,
and answer and close support requests (through the services, audited); only superusers may
change other rows, audited (core.admin holds the shared pieces)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from core.admin import AuditedAdmin, KeepsHistory
from core.models import AuditEvent
from peerings import audit_display, services
from peerings.admin_display import change_url, status_badge, status_word
from peerings.models import Deployment, PeeringConnection, Resource, SupportRequest
from peerings.support_admin import STATE_WORDS, SupportRequestAdmin, title


@admin.register(Deployment)
class DeploymentAdmin(KeepsHistory, AuditedAdmin):
    list_display = ["name", "organization", "plan", "region", "vpc_id", "cidr", "vendor_account_id"]
    list_filter = ["plan", "region"]
    list_select_related = ["organization"]
    search_fields = ["name", "vpc_id", "vendor_account_id", "organization__name"]


# The most rows of a peering's audit trail its admin page shows (the audit log has all).
AUDIT_TRAIL_MAX = 50

Status = PeeringConnection.Status


@admin.register(PeeringConnection)
class PeeringConnectionAdmin(KeepsHistory, AuditedAdmin):
    # Status first: it is what support looks for. Fits a 1400 px screen.
    list_display = [
        "status_column",
        "peering_id",
        "deployment",
        "organization_name",
        "customer_vpc_id",
        "changed",
    ]
    list_display_links = ["peering_id"]
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
    # The reason as the reader of the page reads it, beside its stored code and parameters.
    readonly_fields = [*(f.name for f in PeeringConnection._meta.fields), "status_reason"]
    actions = ["retry", "resync_from_aws"]

    class Media:
        css = {"all": ["support-admin.css"]}

    def has_add_permission(self, request):
        return False  # peerings are created by customers' confirmed requests, nowhere else

    @admin.display(description=_("Status"), ordering="status")
    def status_column(self, peering):
        return status_badge(peering.status)

    @admin.display(description=_("Organization"), ordering="deployment__organization__name")
    def organization_name(self, peering):
        return peering.deployment.organization.name

    @admin.display(description=_("Changed"), ordering="status_changed_at")
    def changed(self, peering):
        return date_format(localtime(peering.status_changed_at), "Y-m-d H:i")

    def has_retry_permission(self, request):
        return request.user.has_perm("peerings.retry_peering")

    def has_resync_permission(self, request):
        return request.user.has_perm("peerings.resync_peering")

    @admin.action(description=_("Retry"), permissions=["retry"])
    def retry(self, request, queryset):
        self._retry(request, list(queryset.select_related("deployment")))

    @admin.action(description=_("Re-sync from AWS"), permissions=["resync"])
    def resync_from_aws(self, request, queryset):
        self._resync(request, list(queryset.select_related("deployment__organization")))

    def _retry(self, request, peerings):
        retried, skipped = [], []
        for peering in peerings:
            (retried if services.retry_peering(peering) else skipped).append(peering)
        # Outside any transaction the retry has committed and queued the worker: with an
        # inline queue it has already tried, with a cluster it may not have yet.
        outcomes = []
        for peering in retried:
            peering.refresh_from_db()
            outcomes.append((peering, *_retry_outcome(peering)))
        _tell(
            self,
            request,
            gettext("Retried 1 peering; %(outcome)s."),
            lambda count: (
                ngettext("Retried %(count)d peering.", "Retried %(count)d peerings.", count)
                % {"count": count}
            ),
            outcomes,
        )
        for peering in skipped:
            self.message_user(
                request,
                gettext("Peering %(peering)s was not retried: %(why)s")
                % {"peering": peering, "why": _why_not_retried(peering)},
                messages.WARNING,
            )

    def _resync(self, request, peerings):
        results = services.request_resync(peerings)
        if results is None:
            self.message_user(
                request,
                ngettext(
                    "Re-sync of %(count)d peering queued; its outcome shows in its audit "
                    "trail (peering.resynced, or peering.resync_failed).",
                    "Re-sync of %(count)d peerings queued; each one's outcome shows in its "
                    "audit trail (peering.resynced, or peering.resync_failed).",
                    len(peerings),
                )
                % {"count": len(peerings)},
                messages.INFO,
            )
            return
        outcomes = []
        for peering, findings, problem in results:
            if problem:
                outcomes.append(
                    (
                        peering,
                        gettext("AWS could not be checked: %(problem)s") % {"problem": problem},
                        messages.ERROR,
                    )
                )
            elif findings:
                outcomes.append((peering, " ".join(map(str, findings)), messages.WARNING))
            else:
                outcomes.append((peering, gettext("it matches AWS"), messages.SUCCESS))
        _tell(
            self,
            request,
            gettext("Re-synced 1 peering; %(outcome)s."),
            lambda count: (
                ngettext("Re-synced %(count)d peering.", "Re-synced %(count)d peerings.", count)
                % {"count": count}
            ),
            outcomes,
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/retry/",
                self.admin_site.admin_view(require_POST(self.retry_view)),
                name="{}_{}_retry".format(*info),
            ),
            path(
                "<path:object_id>/resync/",
                self.admin_site.admin_view(require_POST(self.resync_view)),
                name="{}_{}_resync".format(*info),
            ),
            *super().get_urls(),
        ]

    def retry_view(self, request, object_id):
        peering = self._acting_on(request, object_id, self.has_retry_permission(request))
        self._retry(request, [peering])
        return HttpResponseRedirect(change_url(peering))

    def resync_view(self, request, object_id):
        peering = self._acting_on(request, object_id, self.has_resync_permission(request))
        self._resync(request, [peering])
        return HttpResponseRedirect(change_url(peering))

    def _acting_on(self, request, object_id, permitted):
        """The peering a change page's button acts on (its view takes POST only)."""
        peering = self.get_object(request, unquote(object_id))
        if peering is None:
            raise Http404(gettext("No such peering."))
        if not (permitted and self.has_view_or_change_permission(request, peering)):
            raise PermissionDenied
        return peering

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Here, not in the page's context hooks: Django renders the change form inside a
        # transaction, and AWS is never called inside one.
        peering = self.get_object(request, unquote(object_id))
        if (
            request.method == "GET"
            and peering is not None
            and self.has_view_or_change_permission(request, peering)
        ):
            extra_context = {**(extra_context or {}), **self._page_extras(request, peering)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _page_extras(self, request, peering):
        trail = list(
            AuditEvent.objects.filter(
                organization_id=peering.deployment.organization_id,
                deployment_id=peering.deployment_id,
                target_type=PeeringConnection.__name__,
                target_id=str(peering.pk),
            ).order_by("-id")[: AUDIT_TRAIL_MAX + 1]
        )
        for event in trail:
            event.summary = _summary(event)
        support_requests = list(peering.support_requests.all())
        for support_request in support_requests:
            support_request.title = title(support_request)
            support_request.state_word = STATE_WORDS.get(
                support_request.state, support_request.state
            )
        return {
            "aws_view": services.state_in_aws(peering),
            "audit_trail": trail[:AUDIT_TRAIL_MAX],
            "audit_trail_cut": len(trail) > AUDIT_TRAIL_MAX,
            "audit_log_url": reverse("admin:core_auditevent_changelist")
            + f"?q={peering.peering_id}",
            "support_requests": support_requests,
            "retry_url": (
                reverse("admin:peerings_peeringconnection_retry", args=[peering.pk])
                if self.has_retry_permission(request) and peering.status == Status.FAILED
                else None
            ),
            "resync_url": (
                reverse("admin:peerings_peeringconnection_resync", args=[peering.pk])
                if self.has_resync_permission(request)
                else None
            ),
        }


def _retry_outcome(peering):
    """What became of a peering just retried, in words, and a message level."""
    if peering.status == Status.RUNNING:
        return gettext("it is running now"), messages.SUCCESS
    if peering.status == Status.FAILED:
        return (
            gettext("it failed again: %(reason)s") % {"reason": peering.status_reason},
            messages.ERROR,
        )
    return (
        gettext("it is %(status)s: queued; its status shows here when the worker has tried")
        % {"status": status_word(peering.status)},
        messages.INFO,
    )


def _why_not_retried(peering):
    if peering.status != Status.FAILED:
        return gettext("it is %(status)s; only a failed peering is retried.") % {
            "status": status_word(peering.status)
        }
    return gettext(
        "a retry cannot succeed as things are (AWS no longer holds a request we can accept, "
        "or the cause needs fixing first). Once it is fixed, answer the customer's support "
        "request with “cause fixed”."
    )


def _tell(model_admin, request, one, several, outcomes):
    """One message for one peering (`one`: "Retried 1 peering; it failed again: ..."); for
    several, a count (`several(count)`) and a message per peering. Whole sentences, each
    translated as one: word order differs between languages."""
    # The sentence around an outcome ends it, in English or in Chinese.
    outcomes = [(peering, outcome.rstrip(".\u3002"), level) for peering, outcome, level in outcomes]
    if len(outcomes) == 1:
        ((_peering, outcome, level),) = outcomes
        model_admin.message_user(request, one % {"outcome": outcome}, level)
        return
    if outcomes:
        model_admin.message_user(request, several(len(outcomes)), messages.INFO)
    for peering, outcome, level in outcomes:
        # "Peering pcx-…": the admin capitalises the first letter of each message.
        model_admin.message_user(
            request,
            gettext("Peering %(peering)s: %(outcome)s.") % {"peering": peering, "outcome": outcome},
            level,
        )


def _summary(event):
    """An audit event in one line: its message and what changed, in the reader's language
    (the same lines as the customer's audit log: audit_display)."""
    parts = [event.message_text] if event.message_text else []
    before, after = _in_words(event.before), _in_words(event.after)
    parts += [str(change) for change in audit_display.changes(before, after)]
    return " \u00b7 ".join(parts)


def _in_words(values):
    """A peering's status and a support request's state as the page's badges word them,
    rather than their codes."""
    if not isinstance(values, dict):
        return values
    shown = dict(values)
    if isinstance(shown.get("status"), str):
        shown["status"] = status_word(shown["status"])
    if isinstance(shown.get("state"), str):
        shown["state"] = str(STATE_WORDS.get(shown["state"], shown["state"]))
    return shown


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
            self.message_user(
                request, gettext("Nothing was saved: %(why)s") % {"why": refused}, messages.ERROR
            )
            return HttpResponseRedirect(request.get_full_path())


def _why_refused(resource):
    return services.peering_left_running(resource) or gettext(
        "the database refused it (a resource of this name or a change to its peering was "
        "made meanwhile). Reload and try again."
    )


# The Support group's queue of support requests (support_admin.py).
admin.site.register(SupportRequest, SupportRequestAdmin)
