from django.urls import path
from django.views.generic import RedirectView

from peerings import audit_views, views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="deployment-list"), name="home"),
    path("deployments/", views.deployment_list, name="deployment-list"),
    path("deployments/<int:pk>/", views.deployment_detail, name="deployment-detail"),
    path("deployments/<int:pk>/peerings/new/", views.peering_new, name="peering-new"),
    path(
        "deployments/<int:pk>/peerings/<int:peering_pk>/row/", views.peering_row, name="peering-row"
    ),
    path(
        "deployments/<int:pk>/peerings/<int:peering_pk>/steps/",
        views.peering_steps,
        name="peering-steps",
    ),
    path(
        "deployments/<int:pk>/peerings/<int:peering_pk>/retry/",
        views.peering_retry,
        name="peering-retry",
    ),
    path(
        "deployments/<int:pk>/peerings/<int:peering_pk>/delete/",
        views.peering_delete,
        name="peering-delete",
    ),
    path(
        "deployments/<int:pk>/peerings/<int:peering_pk>/support/",
        views.peering_support,
        name="peering-support",
    ),
    path("deployments/<int:pk>/resources/new/", views.resource_new, name="resource-new"),
    path(
        "deployments/<int:pk>/resources/<int:resource_pk>/move/",
        views.resource_move,
        name="resource-move",
    ),
    path(
        "deployments/<int:pk>/resources/<int:resource_pk>/delete/",
        views.resource_delete,
        name="resource-delete",
    ),
    path("audit/", audit_views.audit_log, name="audit-log"),
    path("audit/export.csv", audit_views.audit_export, name="audit-export"),
]
