"""`Authorization: Bearer ppk_…`: the key acts for its organization, and what it changes
is audited with source `api`, the key and the person who made it."""

from rest_framework import authentication, exceptions

from api import keys
from core.middleware import client_ip


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise exceptions.AuthenticationFailed("Send the key as `Authorization: Bearer ppk_…`.")
        key = keys.key_for_secret(secret.strip())
        if key is None:
            raise exceptions.AuthenticationFailed(
                "Unknown, revoked or expired API key, or its creator no longer has access."
            )
        keys.note_use(key, client_ip(request._request))
        return key.created_by, key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
