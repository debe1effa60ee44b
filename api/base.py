"""What every API view shares: the key's authentication and acting context, the rate
limit per key, cursor pagination, and the organization's rows looked up as the UI does
(outsiders 404, viewers 403 on writes)."""

from django.conf import settings
from django.utils import translation
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
    throttle_classes,
)
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.throttling import SimpleRateThrottle

from api.authentication import ApiKeyAuthentication
from core import audit
from core.middleware import client_ip
from core.models import AuditEvent

# The largest primary key the databases hold: anything else names no row.
_MAX_PK = 2**63 - 1


def as_pk(value):
    """A path's ID as a primary key, or None when it cannot be one."""
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if 0 < number <= _MAX_PK else None


class KeyRateThrottle(SimpleRateThrottle):
    """API_RATE_LIMIT_PER_MINUTE requests a minute per key, counted in the default cache:
    Redis, shared by every process, when REDIS_URL is set."""

    scope = "api_key"

    def get_rate(self):
        return f"{settings.API_RATE_LIMIT_PER_MINUTE}/min"

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.secret_hash[:32]}


class Cursor(CursorPagination):
    """Newest first by ID: rows added meanwhile never shift a page already read. A
    `page_size` that is not a whole number from 1 to 500 is refused, not quietly replaced."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"

    def get_page_size(self, request):
        given = request.query_params.get(self.page_size_query_param)
        if given is None:
            return self.page_size
        number = as_pk(given)
        if number is None or number > self.max_page_size:
            raise exceptions.ValidationError(
                {
                    self.page_size_query_param: [
                        f"Give a whole number from 1 to {self.max_page_size}."
                    ]
                }
            )
        return number

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


class ApiView(GenericAPIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = [KeyRateThrottle]
    # The query parameters a view reads (lists add theirs): any other is refused, so that
    # a misspelt filter never passes for "no filter".
    query_parameters: tuple[str, ...] = ()
    _acting = None

    def dispatch(self, request, *args, **kwargs):
        # The API speaks English whatever Accept-Language asks for: programs read its
        # messages, and the forms it shares with the console (and DRF's own) are translated.
        with translation.override("en"):
            response = super().dispatch(request, *args, **kwargs)
        # Said here, or LocaleMiddleware would label the English with the request's language.
        response["Content-Language"] = "en"
        return response

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        allowed = self.query_parameters
        if self.pagination_class is not None:
            allowed += ("cursor", Cursor.page_size_query_param)
        unknown = sorted(set(request.query_params) - set(allowed))
        if unknown:
            raise exceptions.ValidationError(
                {name: ["Unknown query parameter."] for name in unknown}
            )
        # From here on, whatever the view changes is credited to the key and its maker.
        key = request.auth
        creator = key.created_by.get_username()
        self._acting = audit.acting_as(
            audit.Actor(
                user_id=key.created_by_id,
                name=f"{creator} (API key {key.name}, {key.prefix}…)",
                source=AuditEvent.Source.API,
                ip=client_ip(request._request),
                request_id=getattr(request._request, "request_id", ""),
            )
        )
        self._acting.__enter__()

    def finalize_response(self, request, response, *args, **kwargs):
        if self._acting is not None:
            self._acting.__exit__(None, None, None)
            self._acting = None
        return super().finalize_response(request, response, *args, **kwargs)

    @property
    def key(self):
        return self.request.auth

    def require_write(self):
        if not self.key.can_act:
            if self.key.role == self.key.Role.VIEWER:
                raise exceptions.PermissionDenied("A viewer key reads; it cannot change anything.")
            raise exceptions.PermissionDenied(
                "The key's creator is now a viewer of the organization: the key reads, "
                "it cannot change anything."
            )


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def not_found(request, *args, **kwargs):
    raise exceptions.NotFound("No such API route.")
