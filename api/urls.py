from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView

from api import docs, pages, views
from api.base import not_found

api_v1 = [
    path("deployments/", views.DeploymentList.as_view(), name="api-deployments"),
    path("deployments/<str:id>/", views.DeploymentDetail.as_view(), name="api-deployment"),
    path(
        "deployments/<str:id>/peerings/",
        views.DeploymentPeerings.as_view(),
        name="api-deployment-peerings",
    ),
    path(
        "deployments/<str:id>/resources/",
        views.DeploymentResources.as_view(),
        name="api-deployment-resources",
    ),
    path("peerings/<str:id>/", views.PeeringDetail.as_view(), name="api-peering"),
    path("peerings/<str:id>/retry/", views.PeeringRetry.as_view(), name="api-peering-retry"),
    path("resources/<str:id>/", views.ResourceDetail.as_view(), name="api-resource"),
    path("audit-events/", views.AuditEventList.as_view(), name="api-audit-events"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="api-schema"),
    path("docs/", docs.api_docs, name="api-docs"),
    # Anything else under /api/v1/ is a problem+json 404 too, not the console's HTML page.
    re_path(r"^.*$", not_found),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api-keys/", pages.key_list, name="api-key-list"),
    path("organizations/<int:organization_pk>/api-keys/new/", pages.key_new, name="api-key-new"),
    path("api-keys/<int:key_pk>/revoke/", pages.key_revoke, name="api-key-revoke"),
]
