from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET

from core.login_guard import LoginForm


class LoginView(auth_views.LoginView):
    """Customers land on their deployments (LOGIN_REDIRECT_URL), the vendor's staff on the
    admin, where their work is. A `next` parameter still wins for both."""

    authentication_form = LoginForm

    def get_default_redirect_url(self):
        if self.request.user.is_staff:
            return reverse("admin:index")
        return super().get_default_redirect_url()


@require_GET
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page links: point them at the icon rather
    than logging a 404 on every first visit. Not permanent: the static URL may change."""
    response = redirect(static("favicon.svg"))
    patch_cache_control(response, public=True, max_age=24 * 3600)
    return response
