"""API keys in the support admin, read-only for everyone: who made each key, for which
organization and role, when and from where it was last used. One change: Revoke, for a key
that leaked (owners revoke theirs on the portal's API keys page; both are audited). The
secret is never stored and its hash is never shown."""

from django.contrib import admin, messages
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from api import keys
from api.models import ApiKey
from core.admin import ReadOnlyAdmin

STATES = {
    "usable": pgettext_lazy("API key state", "usable"),
    "expired": pgettext_lazy("API key state", "expired"),
    "revoked": pgettext_lazy("API key state", "revoked"),
}


def state_of(key):
    if key.revoked_at is not None:
        return "revoked"
    return "expired" if key.is_expired else "usable"


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return list(STATES.items())

    def queryset(self, request, queryset):
        now = timezone.now()
        expired = Q(expires_at__isnull=False, expires_at__lte=now)
        match self.value():
            case "usable":
                return queryset.filter(revoked_at=None).exclude(expired)
            case "expired":
                return queryset.filter(expired, revoked_at=None)
            case "revoked":
                return queryset.exclude(revoked_at=None)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "shown_prefix",
        "organization",
        "role",
        "state",
        "created_by",
        "created_at",
        "last_used_at",
        "last_used_ip",
    ]
    list_filter = [StateFilter, "role"]
    list_select_related = ["organization", "created_by"]
    search_fields = ["name", "prefix", "organization__name"]
    fields = [
        "organization",
        "name",
        "role",
        "shown_prefix",
        "state",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    ]
    readonly_fields = ["shown_prefix", "state"]
    actions = ["revoke"]

    @admin.display(description=_("key"), ordering="prefix")
    def shown_prefix(self, key):
        return f"{key.prefix}…"

    @admin.display(description=_("state"))
    def state(self, key):
        return STATES[state_of(key)]

    def has_revoke_permission(self, request):
        return request.user.has_perm("api.revoke_apikey")

    @admin.action(description=_("Revoke"), permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = [key for key in queryset.select_related("organization") if keys.revoke_key(key)]
        if revoked:
            self.message_user(
                request,
                ngettext(
                    "Revoked %(count)d API key: %(keys)s. Requests with it are refused "
                    "from now on.",
                    "Revoked %(count)d API keys: %(keys)s. Requests with them are refused "
                    "from now on.",
                    len(revoked),
                )
                % {"count": len(revoked), "keys": ", ".join(map(str, revoked))},
                messages.SUCCESS,
            )
        if len(revoked) < len(queryset):
            self.message_user(
                request,
                gettext("Keys already revoked were left as they were."),
                messages.WARNING,
            )
