"""The support staff's admin: what every app's admin builds on, and the platform's own
models. The Support group (made by a migration, kept by each app's post_migrate receiver)
may view everything and run the actions it is granted; only superusers may change or delete
rows. Every change made here is audited with the staff member as actor (the middleware marks
requests under /admin/ as source "admin")."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import BadRequest, ValidationError
from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import audit
from core.models import AuditCheckpoint, AuditEvent, Membership, Organization

# Each word of an admin search is one more nested condition (SQLite refuses past 1,000
# levels); nobody's real question is longer than this.
SEARCH_WORDS_MAX = 10


class BoundedSearch:
    def get_search_results(self, request, queryset, search_term):
        words = search_term.split()
        if len(words) > SEARCH_WORDS_MAX:
            self.message_user(
                request,
                gettext("Only the first %(count)d words of the search were used.")
                % {"count": SEARCH_WORDS_MAX},
                messages.WARNING,
            )
            search_term = " ".join(words[:SEARCH_WORDS_MAX])
        return super().get_search_results(request, queryset, search_term)


class SelectedIdsChecked:
    """The rows an action runs on arrive as text (`_selected_action`), which Django passes
    straight to a pk__in filter: a malformed one raises there (ValueError on any database;
    a number out of the column's range, only on some) and the page answers 500. It is the
    client's mistake: 400. Checked by the primary key field itself, with its range."""

    def response_action(self, request, queryset, *args, **kwargs):
        pk = self.model._meta.pk
        for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            try:
                pk.clean(value, None)
            except ValidationError:
                raise BadRequest(
                    gettext("Not an ID of a %(model)s: %(value)s")
                    % {"model": self.model._meta.verbose_name, "value": repr(value[:40])}
                ) from None
        return super().response_action(request, queryset, *args, **kwargs)


class AuditedAdmin(SelectedIdsChecked, BoundedSearch, admin.ModelAdmin):
    """Records one audit event per add, change or delete, with the changed fields."""

    def save_model(self, request, obj, form, change):
        fields = form.changed_data
        before = {f: form.initial.get(f) for f in fields} if change else {}
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            after = {f: form.cleaned_data.get(f) for f in fields}
            verb = "changed" if change else "added"
            audit.record(
                f"admin.{obj._meta.model_name}.{verb}", target=obj, before=before, after=after
            )

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit.record(
                f"admin.{obj._meta.model_name}.deleted", target=obj, before={"object": str(obj)}
            )
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def save_formset(self, request, form, formset, change):
        # Inline rows (an organization's memberships) are changes of their own.
        with transaction.atomic():
            super().save_formset(request, form, formset, change)
            # Each row's form still holds what the row was before this save.
            initial = {row.instance.pk: row.initial for row in formset.initial_forms}
            for obj in formset.new_objects:
                audit.record(
                    f"admin.{obj._meta.model_name}.added",
                    target=obj,
                    organization=_organization(form.instance),
                    after=_fields(obj),
                )
            for obj, fields in formset.changed_objects:
                audit.record(
                    f"admin.{obj._meta.model_name}.changed",
                    target=obj,
                    organization=_organization(form.instance),
                    before={f: initial[obj.pk].get(f) for f in fields},
                    after=_stored(obj, fields),
                )
            for obj in formset.deleted_objects:
                audit.record(
                    f"admin.{obj._meta.model_name}.deleted",
                    organization=_organization(form.instance),
                    before={"object": str(obj)},
                )


class KeepsHistory:
    """Rows the audit log points at are never deleted: deactivate or rename instead."""

    def has_delete_permission(self, request, obj=None):
        return False


def _organization(obj):
    return obj if isinstance(obj, Organization) else None


def _fields(obj):
    return {
        f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.attname != "id"
    }


def _stored(obj, field_names):
    """The named fields as stored (a foreign key as its id, as in a form's initial data)."""
    return {name: getattr(obj, obj._meta.get_field(name).attname) for name in field_names}


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(KeepsHistory, AuditedAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


# Beside the customers' actions, what only support reads: sign-ins and admin changes.
SUPPORT_ONLY_AUDIT_ACTIONS = [
    ("user.logged_in", _("Signed in")),
    ("user.logged_out", _("Signed out")),
    ("user.login_failed", _("Failed sign-in")),
    ("user.login_locked", _("Sign-in locked")),
    ("admin.*", _("Any change in the admin")),
    ("admin.user.*", _("User changed in the admin")),
    ("admin.group.*", _("Group changed in the admin")),
]


def support_audit_actions():
    return [*audit.customer_actions(), *SUPPORT_ONLY_AUDIT_ACTIONS]


class KnownActionFilter(admin.SimpleListFilter):
    """Actions from a fixed list: Django's own filter on a plain field runs SELECT DISTINCT
    over the whole (million-row) table on every page. `x.*` picks every action under x."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return support_audit_actions()

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.endswith(".*"):
            return queryset.filter(action__startswith=value[:-1])
        if value:
            return queryset.filter(action=value)
        return queryset


class NoWrites:
    """No one, superusers included, adds, changes or deletes these in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoWrites, SelectedIdsChecked, BoundedSearch, admin.ModelAdmin):
    """Records that are only read in the admin."""


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "actor_name",
        "source",
        "action",
        "target_repr",
        "organization",
        "ip",
        "request_id",
    ]
    list_filter = ["source", KnownActionFilter]
    list_select_related = ["organization"]
    search_fields = ["target_repr", "actor_name", "request_id", "organization__name"]
    # The message in the reader's language, beside its stored code and parameters.
    readonly_fields = [*(f.name for f in AuditEvent._meta.fields), "message_text"]
    show_full_result_count = False


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    """For operators (superusers): when the chain's head was last written down, to compare
    with the `audit.checkpoint` lines kept elsewhere; `verify_audit_chain` checks them all."""

    list_display = ["created_at", "event_count", "head_event_id", "head_hash"]
    readonly_fields = [f.name for f in AuditCheckpoint._meta.fields]
    show_full_result_count = False


class AuditedDeletions:
    """Django logs a bulk delete with bulk_create, which sends no signal: record each
    deleted user or group here (signals.py mirrors the other admin changes)."""

    def log_deletions(self, request, queryset):
        for obj in queryset:
            audit.record(
                f"admin.{obj._meta.model_name}.deleted",
                message=f"{obj}: deleted",
                after={"object_id": str(obj.pk), "object": str(obj)},
            )
        return super().log_deletions(request, queryset)


class AuditedPrivileges:
    """One audit event per add or change of a user or group, with before/after of the
    privileges that changed, so that an auditor sees superuser or the Support group granted
    or removed (signals.py leaves these models' LogEntry to us). Groups and permissions are
    saved in save_related, after save_model: the before is taken in save_model, compared in
    log_change/log_addition, which Django calls when both are done, in the same transaction.
    Never a password or its hash."""

    def save_model(self, request, obj, form, change):
        if change:
            obj._privileges_before = _privileges(type(obj)._default_manager.get(pk=obj.pk))
        super().save_model(request, obj, form, change)

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        audit.record(
            f"admin.{obj._meta.model_name}.added",
            target=obj,
            after=_privileges(obj),
            message=_change_message(entry),
        )
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        before = obj.__dict__.pop("_privileges_before", None)
        if before is None:
            # Only the users' password form logs a change without save_model: record the
            # fact, never a value.
            before, after = {}, {"password": "changed" if obj.has_usable_password() else "disabled"}
        else:
            now = _privileges(obj)
            before = {k: v for k, v in before.items() if now[k] != v}
            after = {k: now[k] for k in before}
        audit.record(
            f"admin.{obj._meta.model_name}.changed",
            target=obj,
            before=before,
            after=after,
            message=_change_message(entry),
        )
        return entry


def _privileges(obj):
    if isinstance(obj, Group):
        return {
            "name": obj.name,
            "permissions": sorted(obj.permissions.values_list("codename", flat=True)),
        }
    return {
        "is_staff": obj.is_staff,
        "is_superuser": obj.is_superuser,
        "is_active": obj.is_active,
        "groups": sorted(obj.groups.values_list("name", flat=True)),
        "user_permissions": sorted(obj.user_permissions.values_list("codename", flat=True)),
    }


def _change_message(entry):
    return f"{entry.object_repr}: {entry.get_change_message()}"


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(
    SelectedIdsChecked, BoundedSearch, AuditedDeletions, AuditedPrivileges, UserAdmin
):
    def user_change_password(self, request, id, form_url=""):
        # The new password and its audit event commit together, as the change form's do.
        with transaction.atomic():
            return super().user_change_password(request, id, form_url)


@admin.register(Group)
class AuditedGroupAdmin(
    SelectedIdsChecked, BoundedSearch, AuditedDeletions, AuditedPrivileges, GroupAdmin
):
    pass
