from django.urls import path

from webhooks import views

urlpatterns = [
    path("webhooks/", views.endpoint_list, name="webhook-list"),
    path(
        "organizations/<int:organization_pk>/webhooks/new/", views.endpoint_new, name="webhook-new"
    ),
    path("webhooks/<int:endpoint_pk>/", views.endpoint_detail, name="webhook-detail"),
    path("webhooks/<int:endpoint_pk>/edit/", views.endpoint_edit, name="webhook-edit"),
    path("webhooks/<int:endpoint_pk>/rotate-secret/", views.endpoint_rotate, name="webhook-rotate"),
    path("webhooks/<int:endpoint_pk>/delete/", views.endpoint_delete, name="webhook-delete"),
    path("webhooks/<int:endpoint_pk>/test/", views.endpoint_test, name="webhook-test"),
    path(
        "webhooks/<int:endpoint_pk>/deliveries/<int:delivery_pk>/resend/",
        views.delivery_resend,
        name="webhook-resend",
    ),
]
