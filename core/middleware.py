import ipaddress
import re
import uuid

from django.conf import settings

from core import audit
from core.models import AuditEvent


def client_ip(request):
    """The client's address. X-Forwarded-For is believed only when the connection comes
    from a proxy listed in TRUSTED_PROXIES, and then its right-most untrusted hop wins."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = [remote]
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()] + [remote]
    for hop in reversed(hops):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return remote or None
        if not any(address in network for network in settings.TRUSTED_PROXIES):
            return str(address)
    return remote or None


_SAFE_REQUEST_ID = re.compile(r"\A[A-Za-z0-9-]{1,64}\Z")


def _from_trusted_proxy(request):
    try:
        remote = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(remote in network for network in settings.TRUSTED_PROXIES)


def _request_id(request):
    """A trusted proxy's X-Request-ID is kept (it ties our log to theirs); anyone else's is
    replaced, so nobody can plant or collide request IDs in the audit log."""
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    if _SAFE_REQUEST_ID.match(given) and _from_trusted_proxy(request):
        return given
    return uuid.uuid4().hex


class AuditContextMiddleware:
    """Gives every request an ID and makes the acting user known to the service layer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = _request_id(request)
        source = (
            AuditEvent.Source.ADMIN if request.path.startswith("/admin/") else AuditEvent.Source.WEB
        )
        actor = audit.actor_for_user(
            getattr(request, "user", None), source, client_ip(request), request.request_id
        )
        # Kept on the request too: Django logs a 4xx/5xx after this context has closed.
        request.audit_actor = actor
        with audit.acting_as(actor):
            response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
