"""Every route of ours, walked from the URL conf: the security sweeps (and any test that
wants to know a route is swept) take them from here, so a new view cannot escape them."""

from django.urls import URLPattern, URLResolver, get_resolver

# Routes that take no organization's object or are Django's own.
# i18n/setlang/ changes only the person's own language (tests/test_languages.py).
NOT_SCOPED = ("admin/", "login/", "logout/", "i18n/")  # their CSRF is checked on its own
# The REST API: keys, not sessions, so no CSRF; tests/test_api_security.py sweeps it.
API = "api/v1/"


def customer_routes():
    """(name, kwarg names) of every named route of ours, walked from the URL conf."""
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if route.startswith((*NOT_SCOPED, API)):
                continue
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and pattern.name:
                found.append((pattern.name, tuple(pattern.pattern.converters)))

    walk(get_resolver().url_patterns)
    return found


def scoped_routes():
    """The routes that take an organization's object: the IDOR sweep's."""
    return [(name, converters) for name, converters in customer_routes() if converters]


def api_routes():
    """(name, kwarg names) of every named route of the REST API, from the URL conf."""
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif route.startswith(API) and isinstance(pattern, URLPattern) and pattern.name:
                found.append((pattern.name, tuple(pattern.pattern.converters)))

    walk(get_resolver().url_patterns)
    return found
