"""Every outgoing webhook request, and all of httpx, lives here. The rest of the code hands
over a URL, a body and a secret, and gets back a Result: what happened, and whether trying
again later could help. What went wrong is a reason (core/reasons.py), stored with the
attempt as a code and parameters and said in the language of whoever reads it."""

import contextlib
import hashlib
import hmac
import socket
import threading
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from core.reasons import Reason
from webhooks import validators

EXCERPT_BYTES = 512
EXCERPT_CHARS = 200


def signature(secret, timestamp, body):
    """Hex HMAC-SHA256 of `{timestamp}.{body}`, keyed with the secret's UTF-8 bytes."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Result:
    status_code: int | None
    duration_ms: int
    error: Reason | None = None
    retryable: bool = False
    # Seconds the endpoint asked us to wait (Retry-After on 429 and 503), if it said.
    retry_after: int | None = None

    @property
    def succeeded(self):
        return self.error is None and self.status_code is not None


class VettedTransport(httpx.BaseTransport):
    """Checks every request's URL right before sending (validators.vet_url) and connects to
    the addresses that check resolved, never resolving the name a second time: a DNS answer
    that changes between the check and the connection (DNS rebinding) cannot redirect us.
    The Host header, SNI and the certificate check still use the host name.

    With a `deadline`, connecting shares it: each address gets at most the time left, and
    none is tried once it has run out (the deadline's own cut only reaches sockets that
    finished connecting, so N silent addresses would otherwise cost N connect timeouts)."""

    def __init__(self, deadline=None):
        self._transport = httpx.HTTPTransport()
        self._deadline = deadline

    def handle_request(self, request):
        target = validators.vet_url(str(request.url))
        if target.host_is_address:
            attempts = [request]
        else:
            attempts = (_pinned(request, address, target.host) for address in target.addresses)
        failure = None
        for attempt in attempts:
            left = None if self._deadline is None else self._deadline.remaining()
            if left is not None and left <= 0:
                break
            try:
                return self._transport.handle_request(_connect_within(attempt, left))
            except httpx.ConnectError as exc:
                # Nothing was sent yet, so the next checked address is safe to try (an
                # IPv6 answer first on a worker without an IPv6 route is common).
                failure = exc
        raise failure or httpx.ConnectTimeout("No time left to connect.", request=request)

    def close(self):
        self._transport.close()


def _connect_within(request, seconds):
    """The request with its connect timeout cut to `seconds` (None: left as it is)."""
    if seconds is None:
        return request
    timeouts = dict(request.extensions.get("timeout", {}))
    configured = timeouts.get("connect")
    timeouts["connect"] = seconds if configured is None else min(configured, seconds)
    request.extensions = {**request.extensions, "timeout": timeouts}
    return request


def _pinned(request, address, host):
    # The request's headers already carry `Host: <host>`; keep them as they are.
    return httpx.Request(
        request.method,
        request.url.copy_with(host=str(address)),
        headers=request.headers,
        stream=request.stream,
        extensions={**request.extensions, "sni_hostname": host},
    )


class Deadline:
    """The whole attempt's wall-clock limit (WEBHOOK_DEADLINE). httpx's timeouts count per
    read, so a receiver that drips its answer a byte at a time never trips them and would
    hold a worker until django-q2 kills the task: when time is up, this shuts the
    connection down under httpx, whichever read it is in. It learns the connection from
    httpcore's trace hook (the `trace` request extension)."""

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self._ends_at = clock() + seconds
        self.expired = False  # set when the time is up and the connections are cut
        self._streams = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def remaining(self):
        """Seconds left (0 once the deadline has passed)."""
        return max(0.0, self._ends_at - self._clock())

    def __exit__(self, *exc):
        self._timer.cancel()

    def trace(self, event, info):
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            with self._lock:
                self._streams.append(info["return_value"])
                if self.expired:
                    self._cut(info["return_value"])

    def _expire(self):
        with self._lock:
            self.expired = True
            for stream in self._streams:
                self._cut(stream)

    @staticmethod
    def _cut(stream):
        sock = stream.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)


def user_agent():
    return f"{settings.VENDOR_NAME} Peering Portal webhooks"


@sensitive_variables("secrets")
def post_event(url, body, *, secrets, event_id):
    """POST one event, signed with each of `secrets` (space-separated `v1=` signatures:
    during a rotation's overlap a receiver with either secret accepts it). Never raises
    for what the endpoint or the network does."""
    payload = body.encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent(),
        "Webhook-Id": str(event_id),
        "Webhook-Timestamp": timestamp,
        "Webhook-Signature": " ".join(
            f"v1={signature(secret, timestamp, payload)}" for secret in secrets
        ),
    }
    started = time.monotonic()
    deadline = Deadline(settings.WEBHOOK_DEADLINE)
    try:
        with (
            deadline,
            httpx.Client(
                transport=VettedTransport(deadline),
                timeout=httpx.Timeout(settings.WEBHOOK_TIMEOUT),
                follow_redirects=False,
                trust_env=False,
            ) as http,
            http.stream(
                "POST",
                url,
                content=payload,
                headers=headers,
                extensions={"trace": deadline.trace},
            ) as response,
        ):
            result = _result(response, _ms_since(started))
            return _past_deadline(started) if deadline.expired else result
    except httpx.TransportError as exc:
        # The transport gives up connecting when no time is left, maybe an instant before
        # the timer has fired.
        if deadline.expired or deadline.remaining() <= 0:
            return _past_deadline(started)
        return _transport_failure(exc, started)
    except validators.UnsafeUrl as exc:
        return Result(
            None, _ms_since(started), Reason("webhook_not_sent", {"why": exc.reason.as_param()})
        )
    except validators.Unresolvable as exc:
        return Result(None, _ms_since(started), exc.reason, retryable=True)


def _transport_failure(exc, started):
    if isinstance(exc, httpx.TimeoutException):
        return Result(
            None,
            _ms_since(started),
            Reason(
                "webhook_no_answer",
                {"seconds": settings.WEBHOOK_TIMEOUT, "exception": type(exc).__name__},
            ),
            retryable=True,
        )
    # httpx's own words (the operating system's, mostly) stay as it says them.
    error = str(exc) or type(exc).__name__
    return Result(
        None, _ms_since(started), Reason("webhook_network_error", {"error": error}), retryable=True
    )


def _past_deadline(started):
    return Result(
        None,
        _ms_since(started),
        Reason("webhook_cut_off", {"seconds": settings.WEBHOOK_DEADLINE}),
        retryable=True,
    )


def _result(response, duration_ms):
    code = response.status_code
    if 200 <= code < 300:
        return Result(code, duration_ms)
    if 300 <= code < 400:
        location = response.headers.get("Location", "")[:EXCERPT_CHARS]
        if not location:
            return Result(
                code, duration_ms, Reason("webhook_redirect_nowhere", {"status_code": code})
            )
        return Result(
            code,
            duration_ms,
            Reason("webhook_redirect", {"status_code": code, "location": location}),
        )
    params = {"status_code": code, "reason_phrase": response.reason_phrase}
    excerpt = _excerpt(response)
    if excerpt:
        error = Reason("webhook_refused_saying", {**params, "excerpt": excerpt})
    else:
        error = Reason("webhook_refused", params)
    retryable = code == 429 or code >= 500
    retry_after = _retry_after(response) if code in (429, 503) else None
    return Result(code, duration_ms, error, retryable, retry_after)


def _excerpt(response):
    """The start of the answer, to show the owner why it refused. Reads at most
    EXCERPT_BYTES: an endpoint cannot make the worker download a large body."""
    received = b""
    # A failure while reading changes nothing: the status code already says what matters.
    with contextlib.suppress(httpx.HTTPError):
        for chunk in response.iter_bytes():
            received += chunk
            if len(received) >= EXCERPT_BYTES:
                break
    text = " ".join(received[:EXCERPT_BYTES].decode("utf-8", "replace").split())
    # PostgreSQL keeps no NUL in text or JSON: shown as the replacement character instead.
    return text[:EXCERPT_CHARS].replace("\x00", "\ufffd")


def _retry_after(response):
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isdigit() else None


def _ms_since(started):
    return int((time.monotonic() - started) * 1000)
