from django.contrib.auth import views as auth_views
from django.urls import reverse

from core.login_guard import LoginForm


class LoginView(auth_views.LoginView):
    """Customers land on their deployments (LOGIN_REDIRECT_URL), the vendor's staff on the
    admin, where their work is. A `next` parameter still wins for both."""

    authentication_form = LoginForm

    def get_default_redirect_url(self):
        if self.request.user.is_staff:
            return reverse("admin:index")
        return super().get_default_redirect_url()
