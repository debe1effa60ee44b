from django.contrib import admin

from peerings.models import (
    AuditEvent,
    Deployment,
    Membership,
    Organization,
    PeeringConnection,
    Resource,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "plan", "region", "vpc_id", "cidr"]
    list_filter = ["plan", "region"]
    list_select_related = ["organization"]
    search_fields = ["name", "vpc_id", "vendor_account_id", "organization__name"]


@admin.register(PeeringConnection)
class PeeringConnectionAdmin(admin.ModelAdmin):
    list_display = ["peering_id", "deployment", "customer_vpc_id", "customer_account_id", "status",
                    "status_changed_at"]
    list_filter = ["status", "deployment__region"]
    list_select_related = ["deployment"]
    search_fields = ["peering_id", "customer_vpc_id", "customer_account_id",
                     "deployment__organization__name", "deployment__name"]


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "host", "port", "deployment", "peering"]
    list_select_related = ["deployment", "peering"]
    search_fields = ["name", "host"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_name", "source", "action", "target_repr", "organization"]
    list_filter = ["source", "action"]
    list_select_related = ["organization"]
    search_fields = ["target_repr", "actor_name", "request_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
