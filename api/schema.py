"""The OpenAPI document's parts that drf-spectacular cannot see for itself: the Bearer
key, and the problem+json answers every operation may give."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from api.problems import PROBLEM_JSON


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An organization's API key, `ppk_…`, from the API keys page.",
        }


PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "description": "urn:peering-portal:problem:<code>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Messages by field (non_field_errors: the whole request).",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "codes": {
            "type": "object",
            "description": "Beside `errors`, in the same order: each message's stable code "
            "(such as peering_id_in_use, request_not_found, required), empty when it has none.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "location": {"type": "string", "description": "The existing object (duplicates)."},
        "peering_status": {"type": "string", "description": "The peering's status, on a 409."},
        "resources": {
            "type": "array",
            "description": "The resources still bound to a peering that cannot be deleted.",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "url": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}

_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}}
_ANSWERS = {
    "400": ("The body is not JSON.", None),
    "401": ("No key, or an unknown, revoked or expired one.", None),
    "403": ("A viewer key cannot change anything.", None),
    "404": ("No such object in the key's organization (or it was deleted).", None),
    "406": ("Only JSON is offered.", None),
    "409": (
        "A duplicate (Location: the existing object), resources still bound, or work in "
        "progress (Retry-After).",
        {**_RETRY_AFTER, "Location": {"schema": {"type": "string"}}},
    ),
    "415": ("Send application/json.", None),
    "422": ("Refused: errors by field.", None),
    "429": ("Too many requests for this key.", _RETRY_AFTER),
    "503": ("AWS did not answer in time; nothing was saved.", _RETRY_AFTER),
}
_WRITE_ONLY = {"400", "403", "409", "415", "503"}


def add_problems(result, generator, request, public):
    """POSTPROCESSING_HOOKS: every operation's problem answers, by method."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "patch", "delete", "put"):
                continue
            writes = method != "get"
            for status, (description, headers) in _ANSWERS.items():
                if status in _WRITE_ONLY and not writes:
                    continue
                if status == "503" and not path.endswith("/peerings/"):
                    continue
                answer = {"description": description, "content": {PROBLEM_JSON: {"schema": ref}}}
                if headers:
                    answer["headers"] = headers
                operation["responses"].setdefault(status, answer)
    return result
