"""Repeated failed logins lock out further attempts for a while.

Where the client's address can be trusted, counted per (username, address) and per address,
so one attacker can neither guess a password nor lock a real user out from the user's own
address. Where it cannot (behind a proxy, BEHIND_TLS_PROXY, not listed in TRUSTED_PROXIES:
every client has the proxy's address), counted per username alone: an address shared by
everyone must never lock everyone out. Counts live in Django's cache, which every process
shares: Redis when REDIS_URL is set, else the database (core.cache)."""

import hashlib

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.utils.translation import ngettext

from core import audit
from core.middleware import client_ip

# An address may try many users (an office behind one NAT), but not endlessly.
PER_IP_FACTOR = 4


def _keys(username, ip):
    """(cache key, limit) of each counter a failure counts towards; `ip` None when the
    client's address cannot be trusted (lockout_address)."""
    # Hashed: a typed username may be any length and hold any character, a cache key not.
    if ip is None:
        who = hashlib.sha256(username.strip().lower().encode()).hexdigest()
        return [(f"login-failures-user:{who}", settings.LOGIN_MAX_FAILURES)]
    who = hashlib.sha256(f"{username.strip().lower()}|{ip}".encode()).hexdigest()
    return [
        (f"login-failures:{who}", settings.LOGIN_MAX_FAILURES),
        (f"login-failures-ip:{ip}", settings.LOGIN_MAX_FAILURES * PER_IP_FACTOR),
    ]


def lockout_address(request):
    """The client's address when it can be trusted, else None. Decided from the
    configuration, never from the request's headers, which the client writes: with
    TRUSTED_PROXIES set, client_ip reads the address a listed proxy passed on (or the
    connection's own when it came directly); behind a proxy nobody listed
    (BEHIND_TLS_PROXY), every connection has the proxy's address, which everyone behind
    it shares; else the app is reached directly and the connection's own address is the
    client's, whatever forwarding header it sends."""
    if settings.TRUSTED_PROXIES:
        return client_ip(request)
    if settings.BEHIND_TLS_PROXY:
        return None
    return request.META.get("REMOTE_ADDR") or None


UNKNOWN_USERNAME = "(unknown username)"


def username_for_the_log(username):
    """The typed username when it names an account, else a placeholder: a "username" that
    names no one is often a password typed into the wrong field (AWS CloudTrail hides it
    the same way). Support still sees that someone failed, when and from where."""
    username = username[:150]
    model = get_user_model()
    if username and model._default_manager.filter(**{model.USERNAME_FIELD: username}).exists():
        return username
    return UNKNOWN_USERNAME


def is_locked(username, ip):
    return any((cache.get(key) or 0) >= limit for key, limit in _keys(username, ip))


def note_failure(username, ip):
    """Count one failed login; the failure that reaches a limit starts a lockout and is
    audited. The counter's own increment decides it (atomic in Redis and in core.cache), so
    each lockout is recorded exactly once however many processes see failures, and a new
    lockout after the window ends is recorded again."""
    for key, limit in _keys(username, ip):
        cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
            count = 1
        if count == limit:
            _record_lockout(username, ip, per_address=key.startswith("login-failures-ip:"))


def _record_lockout(username, ip, per_address):
    # The lock lasts until the window opened by the first of these failures ends.
    username = username_for_the_log(username)
    minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
    limit = settings.LOGIN_MAX_FAILURES * (PER_IP_FACTOR if per_address else 1)
    if per_address:
        scope = "address"
    elif ip is None:
        scope = "username"
    else:
        scope = "username and address"
    audit.record(
        "user.login_locked",
        # Literal codes, so that tests/test_reasons.py sees each one used.
        message_code=(
            "login_locked_address"
            if per_address
            else "login_locked_username"
            if ip is None
            else "login_locked"
        ),
        message_params={"username": username, "ip": ip, "limit": limit, "minutes": minutes},
        after={"username": username, "scope": scope},
    )


def clear(username, ip):
    cache.delete(_keys(username, ip)[0][0])


class LockoutMixin:
    def clean(self):
        username = self.cleaned_data.get("username") or ""
        ip = lockout_address(self.request) if self.request else None
        if is_locked(username, ip):
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            raise forms.ValidationError(
                ngettext(
                    "Too many failed attempts. Try again in %(minutes)d minute.",
                    "Too many failed attempts. Try again in %(minutes)d minutes.",
                    minutes,
                )
                % {"minutes": minutes},
                code="locked",
            )
        cleaned = super().clean()
        clear(username, ip)
        return cleaned


class LoginForm(LockoutMixin, AuthenticationForm):
    pass


class AdminLoginForm(LockoutMixin, AdminAuthenticationForm):
    pass
