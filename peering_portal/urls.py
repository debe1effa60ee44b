from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from core.languages import set_language
from core.login_guard import AdminLoginForm
from core.views import LoginView, favicon

admin.site.login_form = AdminLoginForm
admin.site.site_header = _("Peering Portal support")

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon),
    path("", include("peerings.urls")),
    path("", include("webhooks.urls")),
    path("", include("api.urls")),
]
if settings.DEMO_MODE:
    # The demo app is installed only in demo mode (settings): without it, no such URL.
    urlpatterns.append(path("", include("demo.urls")))
