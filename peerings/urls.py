from django.urls import path
from django.views.generic import RedirectView

from peerings import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="deployment-list"), name="home"),
    path("deployments/", views.deployment_list, name="deployment-list"),
    path("deployments/<int:pk>/", views.deployment_detail, name="deployment-detail"),
]
