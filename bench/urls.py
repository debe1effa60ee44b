"""The portal's URLs plus the benchmark's two reference pages (ROOT_URLCONF=bench.urls):

- a stock Django admin changelist of peerings on an admin site of its own: a plain
  `ModelAdmin` showing the columns the deployment page shows, 500 rows a page (more than
  the bench's largest deployment), filtered to one deployment by its querystring
  (`?deployment__id__exact=N`);
- a minimal Django view, the ceiling of what any page can do on the same server."""

from django.contrib import admin
from django.http import HttpResponse
from django.urls import path

from peering_portal.urls import urlpatterns as portal_urlpatterns
from peerings.models import PeeringConnection


class ReferencePeeringAdmin(admin.ModelAdmin):
    list_display = [
        "peering_id",
        "customer_vpc_id",
        "customer_account_id",
        "customer_cidrs",
        "status",
        "created_at",
    ]
    list_per_page = 500


reference_site = admin.AdminSite(name="reference")
reference_site.register(PeeringConnection, ReferencePeeringAdmin)


def minimal(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/reference-admin/", reference_site.urls),
    path("bench/minimal/", minimal, name="bench-minimal"),
    *portal_urlpatterns,
]
