"""Routed only in demo mode (peering_portal/urls.py)."""

from django.urls import path

from demo import views

urlpatterns = [
    path(
        "deployments/<int:pk>/peerings/demo-request/",
        views.customer_request,
        name="peering-demo-request",
    ),
]
