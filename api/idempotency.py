"""`Idempotency-Key` on every POST: the answer is kept for a day, and the same key with
the same request gets it again (`Idempotent-Replayed: true`) without anything being done
twice; the same key with another request is refused (422). While the first request is
still being answered, a second gets 409 with `Retry-After`; one left unanswered for
ABANDONED_AFTER (its worker was killed) is taken over by the next retry."""

import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from api import problems
from api.models import IdempotentRequest

KEEP_FOR = timedelta(hours=24)
HEADER = "Idempotency-Key"
# A record still unanswered after this long belongs to a worker that was killed (SIGKILL,
# OOM: nothing deleted it). No live request runs that long: gunicorn kills a worker silent
# for its `timeout` (30 s, gunicorn's default, which gunicorn.conf.py keeps), and the
# longest request, the dialog's AWS check, gives up within AWS_CHECK_* long before. Four
# times the timeout leaves room for a slow database without ever taking a live one over.
ABANDONED_AFTER = timedelta(seconds=120)
# Answers that say "not now": kept, they would stop the retry they invite.
_NOT_KEPT = (429, 503)


def _fingerprint(request):
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def answer_once(view, request, handler):
    """The answer of `handler()`, or the one kept for this request's key."""
    key = request.headers.get(HEADER)
    if key is None:
        return handler()
    if not 1 <= len(key) <= 255:
        raise problems.refused({HEADER: ["Use 1 to 255 characters, such as a UUID."]})
    fingerprint = _fingerprint(request)
    now = timezone.now()
    IdempotentRequest.objects.filter(created_at__lt=now - KEEP_FOR).delete()
    try:
        with transaction.atomic():
            record = IdempotentRequest.objects.create(
                api_key=request.auth, key=key, fingerprint=fingerprint, created_at=now
            )
    except IntegrityError:
        record = _take_over_abandoned(request, key, fingerprint, now)
        if record is None:
            return _replay(request, key, fingerprint)
    try:
        try:
            response = handler()
        except Exception as exc:
            response = view.handle_exception(exc)
    except BaseException:
        record.delete()
        raise
    if (
        response.status_code in _NOT_KEPT
        or response.status_code >= 500
        or response.has_header("Retry-After")
    ):
        record.delete()
        return response
    headers = {name: response[name] for name in ("Location",) if response.has_header(name)}
    if response.content_type:
        headers["Content-Type"] = response.content_type
    IdempotentRequest.objects.filter(pk=record.pk).update(
        status=response.status_code, body=response.data, headers=headers
    )
    return response


def _take_over_abandoned(request, key, fingerprint, now):
    """The record of this same request when its worker died before answering, now ours;
    else None. Compare-and-set on its start time: of retries racing for it, one wins."""
    record = IdempotentRequest.objects.filter(
        api_key=request.auth,
        key=key,
        fingerprint=fingerprint,
        status=0,
        created_at__lt=now - ABANDONED_AFTER,
    ).first()
    if record is None:
        return None
    taken = IdempotentRequest.objects.filter(
        pk=record.pk, status=0, created_at=record.created_at
    ).update(created_at=now)
    if not taken:
        return None
    record.created_at = now
    return record


def _replay(request, key, fingerprint):
    record = IdempotentRequest.objects.filter(api_key=request.auth, key=key).first()
    if record is None:  # expired and removed meanwhile: a conflict of a moment
        raise problems.conflict("idempotency_in_progress", "Try again in a second.", retry_after=1)
    if record.fingerprint != fingerprint:
        raise problems.refused(
            {HEADER: [f"{key} was used with another request in the last 24 hours."]},
            detail="This Idempotency-Key was used with another request.",
        )
    if not record.status:
        raise problems.conflict(
            "idempotency_in_progress",
            "A request with this Idempotency-Key is still being answered.",
            retry_after=1,
        )
    headers = dict(record.headers)
    content_type = headers.pop("Content-Type", None)
    headers["Idempotent-Replayed"] = "true"
    return Response(record.body, status=record.status, headers=headers, content_type=content_type)
