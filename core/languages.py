"""The language a page speaks: the browser's Accept-Language at first (Django's
LocaleMiddleware), then the person's own choice from the header's switcher, kept on the
user (UserPreference) so that it follows them to every session and device.

The choice is read from the database once, at login, into the session: a page costs no
query for it. Switching on one device reaches another one at its next login."""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import translation
from django.views import i18n
from django.views.decorators.http import require_POST

from core.models import UserPreference

SESSION_KEY = "portal_language"


def _supported(code):
    return code in dict(settings.LANGUAGES)


class UserLanguageMiddleware:
    """After AuthenticationMiddleware: a signed-in user's stored language wins over the
    browser's Accept-Language (and over a language cookie left by someone else)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = request.session.get(SESSION_KEY, "") if request.user.is_authenticated else ""
        if _supported(language):
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)


@receiver(user_logged_in)
def use_stored_language(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    language = UserPreference.objects.filter(user=user).values_list("language", flat=True).first()
    if _supported(language):
        # From the next request on (a login answers with a redirect): the middleware.
        request.session[SESSION_KEY] = language
    else:
        request.session.pop(SESSION_KEY, None)


@require_POST
def set_language(request):
    """Django's set_language (a POST with CSRF; it sets the language cookie and goes back to
    `next`), and for a signed-in user the choice stored on them as well."""
    response = i18n.set_language(request)
    language = request.POST.get("language", "")
    if _supported(language) and request.user.is_authenticated:
        UserPreference.objects.update_or_create(user=request.user, defaults={"language": language})
        request.session[SESSION_KEY] = language
    return response
