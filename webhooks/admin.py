"""Read-only for everyone, superusers included: endpoints belong to the customer's owners,
who change them in the portal, audited. The secret is not a form field (editable=False)
and is never listed here."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import NoWrites, ReadOnlyAdmin
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "organization", "enabled", "created_at"]
    list_filter = ["enabled"]
    list_select_related = ["organization"]
    search_fields = ["url", "description", "organization__name"]
    fields = [
        "organization",
        "url",
        "description",
        "enabled",
        "event_types",
        "secret_created_at",
        "created_at",
    ]
    readonly_fields = ["secret_created_at"]


class WebhookAttemptInline(NoWrites, admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    fields = ["number", "started_at", "status_code", "duration_ms", "outcome", "error"]
    readonly_fields = ["error"]

    @admin.display(description=_("error"))
    def error(self, attempt):
        # Stored as a code: said in the language of the support engineer reading it.
        return attempt.error


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "event_type",
        "event_id",
        "endpoint",
        "status",
        "attempt_count",
        "created_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "event_type"]
    list_select_related = ["endpoint"]
    search_fields = ["event_id", "endpoint__url", "endpoint__organization__name"]
    inlines = [WebhookAttemptInline]
