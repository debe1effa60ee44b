"""Every error the API gives is RFC 9457 `application/problem+json`: a `type` naming the
problem for programs, a `title` and `detail` for people, the `status`, the request's path
(`instance`) and its `request_id`; refusals (422) carry their messages by field in
`errors`, as the dialog shows them by its fields, and beside them in `codes` each message's
stable code (core/reasons.py, or Django's and DRF's own such as `required`; "" when it has
none), in the same order: programs branch on the codes, never on the words."""

import math
from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:peering-portal:problem:"
# The key of the messages about the whole request (a form's non-field errors).
WHOLE_REQUEST = "non_field_errors"


class Problem(exceptions.APIException):
    """An answer other than success, with what a client needs to act on it: `errors` by
    field, the `location` of an existing object, a `retry_after` in seconds, and any
    further members of the problem (`extra`)."""

    def __init__(
        self,
        status,
        code,
        detail,
        *,
        errors=None,
        location=None,
        retry_after=None,
        extra=None,
    ):
        super().__init__(detail, code)
        self.status_code = status
        # Made into text here, in the view (English: ApiView answers in English), so that a
        # Reason or a lazy message never reaches the JSON renderer.
        self.errors, self.codes = by_field(errors) if errors is not None else (None, None)
        self.location = location
        self.retry_after = retry_after
        self.extra = extra or {}


def by_field(errors):
    """`errors` ({field: [message]}, None or "__all__" for the whole request; a message a
    string, a core.reasons.Reason, a Django ValidationError or a DRF ErrorDetail) as
    ({field: [text]}, {field: [code]}), the code "" where a message has none."""
    texts, codes = {}, {}
    for field, messages in errors.items():
        key = WHOLE_REQUEST if field in (None, "__all__") else str(field)
        for message in messages if isinstance(messages, list | tuple) else [messages]:
            if isinstance(message, DjangoValidationError):
                text = " ".join(message.messages)
            else:
                text = str(message)
            texts.setdefault(key, []).append(text)
            codes.setdefault(key, []).append(str(getattr(message, "code", None) or ""))
    return texts, codes


def refused(errors, detail="The request was refused; see errors by field."):
    """422: `errors` maps fields (None: the whole request) to messages (see by_field)."""
    return Problem(422, "refused", detail, errors=errors)


def conflict(code, detail, **kwargs):
    return Problem(409, code, detail, **kwargs)


def problem_response(request, status, code, detail, *, headers=None, **members):
    # English, never translated (the titles, the details and the messages by field; ApiView
    # answers in English): programs read problems, match on them and log them. People read
    # the console, which speaks their language.
    body = {
        "type": TYPE_PREFIX + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": str(detail),
        "instance": request.path,
        "request_id": getattr(request, "request_id", ""),
        **members,
    }
    return Response(body, status=status, headers=headers, content_type=PROBLEM_JSON)


def _messages(detail):
    """A DRF error detail as ({field: [messages]}, {field: [codes]})."""
    if isinstance(detail, dict):
        return by_field(detail)
    return by_field({None: detail if isinstance(detail, list) else [detail]})


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: anything else (a bug) stays a 500 for Django to log."""
    request = context["request"]
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    members = {}
    status = exc.status_code
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    wait = getattr(exc, "wait", None)
    if isinstance(exc, Problem):
        code = exc.default_code if exc.detail.code is None else exc.detail.code
        detail = exc.detail
        if exc.errors is not None:
            members["errors"] = exc.errors
            members["codes"] = exc.codes
        if exc.location:
            headers["Location"] = exc.location
            members["location"] = exc.location
        wait = exc.retry_after
        members.update(exc.extra)
    elif isinstance(exc, exceptions.ValidationError):
        # Input that cannot be acted on is a refusal, whichever layer found it.
        status, code = 422, "invalid"
        detail = "The request was refused; see errors by field."
        members["errors"], members["codes"] = _messages(exc.detail)
    else:
        code = exc.default_code
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if wait is not None:
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return problem_response(request, status, str(code), detail, headers=headers, **members)
