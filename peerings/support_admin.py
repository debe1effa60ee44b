"""The Support group's queue of support requests in the admin: open first, oldest first;
support writes the answer (and may mark the cause fixed) and closes requests, through the
services, audited with the staff member as actor. Registered by peerings/admin.py."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Value, When
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.timezone import now
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from core.admin import AuditedAdmin, KeepsHistory
from peerings import services
from peerings.admin_display import change_url, status_badge, status_word
from peerings.models import PeeringConnection, SupportRequest

Status = PeeringConnection.Status


class SupportAnswerForm(forms.ModelForm):
    class Meta:
        model = SupportRequest
        fields = ["answer", "cause_fixed"]
        labels = {"cause_fixed": _("Cause fixed: offer the customer's Retry again")}

    def clean_answer(self):
        answer = self.cleaned_data["answer"].strip()
        if not answer:
            raise forms.ValidationError(gettext("Write the answer the customer will read."))
        return answer


# What support reads on a request's badge: its state in English (as the filters and the
# audit log name it), in the reader's language otherwise.
STATE_WORDS = {
    SupportRequest.State.OPEN: pgettext_lazy("support request state", "open"),
    SupportRequest.State.ANSWERED: pgettext_lazy("support request state", "answered"),
    SupportRequest.State.CLOSED: pgettext_lazy("support request state", "closed"),
}


def title(support_request):
    """The request's name ("Support request #12") in the reader's language; str() stays
    English, since the audit log records it."""
    return gettext("Support request #%(number)s") % {"number": support_request.pk}


# Open first, then answered, then closed; the oldest first within each: a queue.
QUEUE_ORDER = Case(
    When(state=SupportRequest.State.OPEN, then=Value(0)),
    When(state=SupportRequest.State.ANSWERED, then=Value(1)),
    default=Value(2),
)


class SupportRequestAdmin(KeepsHistory, AuditedAdmin):
    """The Support group's queue. Support writes the answer (and may say the cause is
    fixed) and closes requests; both go through the services, audited with the staff
    member as actor. Nothing else of a request is changed here."""

    form = SupportAnswerForm
    list_display = [
        "title_column",
        "state_column",
        "age",
        "organization",
        "peering_link",
        "failure",
    ]
    list_filter = ["state"]
    list_select_related = ["peering__deployment__organization"]
    search_fields = [
        "peering__peering_id",
        "peering__deployment__organization__name",
        "peering__deployment__name",
    ]
    ordering = [QUEUE_ORDER, "opened_at"]
    fieldsets = [
        (
            _("The request"),
            {
                "fields": [
                    "organization",
                    "peering_link",
                    "failed_status_word",
                    "failure_reason",
                    "failure_reason_code",
                    "words",
                    "opened_by_name",
                    "opened_at",
                    "state",
                ]
            },
        ),
        (
            _("Support's answer"),
            {
                "fields": [
                    "answer",
                    "cause_fixed",
                    "answered_by_name",
                    "answered_at",
                    "closed_by_name",
                    "closed_at",
                ]
            },
        ),
    ]

    class Media:
        css = {"all": ["support-admin.css"]}

    def has_add_permission(self, request):
        return False  # customers open them, from the peering's row

    def has_change_permission(self, request, obj=None):
        closed = obj is not None and obj.state == SupportRequest.State.CLOSED
        return not closed and super().has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        answerable = obj is not None and obj.state == SupportRequest.State.OPEN
        shown = [f for _name, fieldset in self.fieldsets for f in fieldset["fields"]]
        return [f for f in shown if not answerable or f not in ("answer", "cause_fixed")]

    @admin.display(description=_("Support request"), ordering="pk")
    def title_column(self, request_):
        return title(request_)

    @admin.display(description=_("State"), ordering="state")
    def state_column(self, request_):
        return format_html(
            '<span class="status-badge support-{}">{}</span>',
            request_.state,
            STATE_WORDS.get(request_.state, request_.state),
        )

    @admin.display(description=_("Age"), ordering="opened_at")
    def age(self, request_):
        return timesince(request_.opened_at, now())

    @admin.display(description=_("Organization"))
    def organization(self, request_):
        return request_.organization.name

    @admin.display(description=_("Peering"))
    def peering_link(self, request_):
        peering = request_.peering
        return format_html(
            '<a href="{}">{}</a> {}', change_url(peering), peering, status_badge(peering.status)
        )

    # The status and the reason it failed with, in the reader's language: the field holds
    # the status's code, and failure_reason is a property (rendered from its code).
    @admin.display(description=_("status when asked"))
    def failed_status_word(self, request_):
        return status_word(request_.failed_status)

    @admin.display(description=_("reason when asked"))
    def failure_reason(self, request_):
        return request_.failure_reason

    @admin.display(description=_("Failure"))
    def failure(self, request_):
        reason = request_.failure_reason
        if len(reason) > 120:
            reason = reason[:119] + "\u2026"
        return format_html("{}: {}", status_word(request_.failed_status), reason)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(
            show_save=obj is not None and obj.state == SupportRequest.State.OPEN,
            show_save_and_continue=False,
            show_save_and_add_another=False,
            can_close_request=self.has_change_permission(request, obj),
            # The page's heading in the reader's language (Django's is str(obj): English).
            subtitle=title(obj) if obj is not None else None,
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        if "answer" not in form.cleaned_data:
            # Answered since the page was loaded: the form no longer offered the answer.
            raise services.SupportRefused(
                gettext("%(request)s was %(state)s meanwhile. Reload the page.")
                % {"request": title(obj), "state": STATE_WORDS.get(obj.state, obj.state)}
            )
        retry_offered = services.answer_support_request(
            obj,
            user=request.user,
            answer=form.cleaned_data["answer"],
            cause_fixed=form.cleaned_data["cause_fixed"],
        )
        if retry_offered:
            self.message_user(
                request, gettext("The customer's Retry is offered again."), messages.SUCCESS
            )
        elif obj.cause_fixed:
            peering = obj.peering
            if peering.status == Status.FAILED:
                said = gettext(
                    "Retry was not offered: %(peering)s is %(status)s, and its Retry is offered "
                    "already."
                )
            else:
                said = gettext(
                    "Retry was not offered: %(peering)s is %(status)s, and only a failed peering "
                    "is retried."
                )
            self.message_user(
                request,
                said % {"peering": peering, "status": status_word(peering.status)},
                messages.WARNING,
            )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_close" in request.POST and object_id:
            return self._close(request, object_id)
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.SupportRefused as refused:
            # Raised inside the view's transaction, which has rolled everything back.
            self.message_user(
                request, gettext("Nothing was saved: %(why)s") % {"why": refused}, messages.ERROR
            )
            return HttpResponseRedirect(request.get_full_path())

    def _close(self, request, object_id):
        support_request = self.get_object(request, unquote(object_id))
        if support_request is None:
            raise Http404(gettext("No such support request."))
        if not self.has_change_permission(request, support_request):
            raise PermissionDenied
        try:
            services.close_support_request(support_request, user=request.user)
        except services.SupportRefused as refused:
            self.message_user(request, str(refused), messages.ERROR)
        else:
            self.message_user(
                request,
                gettext("%(request)s is closed.") % {"request": title(support_request)},
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:peerings_supportrequest_changelist"))
