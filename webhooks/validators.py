"""Where webhooks may go. One check, used when an owner saves a URL and again right before
every attempt (DNS can change in between): https only, and every address the host resolves
to must be public. The sender then connects to exactly the addresses checked here
(client.VettedTransport), so a second, different DNS answer can never slip in."""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from core.reasons import Reason
from webhooks.events import EVENT_TYPES

# Instance metadata (AWS IMDS over IPv4 and IPv6; ECS task metadata): they hand out cloud
# credentials, so no setting opens them, not even in local development.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2")
)
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refusal(Exception):
    """Why, as a reason (core/reasons.py): a form says it at once, in the page's language;
    an attempt stores it and its page says it in the language of whoever reads it."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason

    def __str__(self):
        return str(self.reason)


class UnsafeUrl(Refusal):
    """The URL is refused by policy: wrong scheme, or an address that is not public."""


class Unresolvable(Refusal):
    """The host name has no address right now (a network problem, not a policy one)."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    # Every address the host resolved to, all checked, in resolver order.
    addresses: tuple
    host_is_address: bool


def vet_url(url):
    """The checked target of `url`, or UnsafeUrl / Unresolvable."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unmatched bracket of an IPv6 address, say
        raise UnsafeUrl(Reason("url_invalid")) from None
    scheme = parts.scheme.lower()
    if settings.WEBHOOK_ALLOW_HTTP and scheme not in ("https", "http"):
        raise UnsafeUrl(Reason("url_scheme_http_allowed"))
    if not settings.WEBHOOK_ALLOW_HTTP and scheme != "https":
        raise UnsafeUrl(Reason("url_scheme"))
    host = parts.hostname
    if not host:
        raise UnsafeUrl(Reason("url_no_host"))
    if parts.username or parts.password:
        raise UnsafeUrl(Reason("url_credentials"))
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl(Reason("url_bad_port")) from None
    addresses, host_is_address = _resolve(host, port)
    for address in addresses:
        problem = address_problem(address)
        if problem:
            params = {"address": str(address), "problem": problem.as_param()}
            if host_is_address:
                raise UnsafeUrl(Reason("address_not_public", params))
            raise UnsafeUrl(Reason("host_not_public", {"host": host, **params}))
    return Target(host=host, port=port, addresses=addresses, host_is_address=host_is_address)


def _resolve(host, port):
    try:
        return (ipaddress.ip_address(host),), True
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        # The resolver's own words (strerror) stay as it says them.
        error = str(getattr(exc, "strerror", None) or exc)
        raise Unresolvable(Reason("host_unresolvable", {"host": host, "error": error})) from None
    addresses = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 link-local answer may carry a zone (fe80::1%eth0).
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unresolvable(Reason("host_no_address", {"host": host}))
    return tuple(addresses), False


def address_problem(address):
    """Why `address` may not receive webhooks (a reason saying what kind of address it
    is), or None when it may."""
    for candidate in _with_embedded_ipv4(address):
        if candidate in METADATA_ADDRESSES:
            return Reason("address_metadata")
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return None
    for candidate in _with_embedded_ipv4(address):
        problem = _non_public(candidate)
        if problem:
            return problem
    return None


def _with_embedded_ipv4(address):
    """Any IPv4 address `address` carries (::ffff:a.b.c.d, 6to4, NAT64), then the address
    itself: 127.0.0.1 cannot hide inside an IPv6 form, and is what a refusal names."""
    if address.version == 6:
        if address.ipv4_mapped:
            # Only the IPv4 address is ever connected to: it alone decides.
            yield address.ipv4_mapped
            return
        if address.sixtofour:
            yield address.sixtofour
        if address in _NAT64:
            yield ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    yield address


def _non_public(address):
    if address.is_unspecified:
        return Reason("address_unspecified")
    if address.is_loopback:
        return Reason("address_loopback")
    if address.is_link_local:
        return Reason("address_link_local")
    if address.is_multicast:
        return Reason("address_multicast")
    if address.is_reserved:
        return Reason("address_reserved")
    if address.is_private:
        return Reason("address_private")
    if not address.is_global:
        return Reason("address_not_global")
    return None


def validate_webhook_url(value):
    try:
        vet_url(value)
    except UnsafeUrl as exc:
        raise ValidationError(str(exc), code="unsafe_url") from None
    except Unresolvable as exc:
        raise ValidationError(
            gettext("%(why)s Check the host name.") % {"why": exc}, code="unresolvable"
        ) from None


def validate_event_types(value):
    known = {event_type for event_type, _label in EVENT_TYPES}
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(gettext("Event types must be a list of event names."), code="invalid")
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValidationError(
            gettext("Unknown event type(s): %(types)s.") % {"types": ", ".join(unknown)},
            code="invalid",
        )
