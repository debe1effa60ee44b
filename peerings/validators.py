"""Formats of the values customers and support type in. Each validator raises a
ValidationError whose message says what a good value looks like."""

import ipaddress
import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

# AWS resource IDs carry 8 hex digits (older resources) or 17 (all since 2018).
_HEX_ID = r"(?:[0-9a-f]{8}|[0-9a-f]{17})"

validate_peering_id = RegexValidator(
    rf"\Apcx-{_HEX_ID}\Z",
    "Enter a VPC peering connection ID such as pcx-0123456789abcdef0.",
    code="invalid_peering_id",
)
validate_vpc_id = RegexValidator(
    rf"\Avpc-{_HEX_ID}\Z",
    "Enter a VPC ID such as vpc-0123456789abcdef0.",
    code="invalid_vpc_id",
)
validate_security_group_id = RegexValidator(
    rf"\Asg-{_HEX_ID}\Z",
    "Enter a security group ID such as sg-0123456789abcdef0.",
    code="invalid_security_group_id",
)
validate_account_id = RegexValidator(
    r"\A[0-9]{12}\Z",
    "Enter the 12-digit AWS account ID, digits only.",
    code="invalid_account_id",
)
validate_region = RegexValidator(
    r"\A[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-[0-9]{1,2}\Z",
    "Enter an AWS region name such as us-east-1.",
    code="invalid_region",
)


def normalize_cidr(value):
    """Return the canonical form of an IPv4 CIDR ("10.0.0.0/16"), or raise ValidationError.
    A CIDR with host bits set is refused rather than silently widened."""
    text = str(value).strip()
    if "/" not in text:
        raise ValidationError("Enter an IPv4 CIDR block such as 10.0.0.0/16.", code="invalid_cidr")
    try:
        network = ipaddress.IPv4Network(text)
    except ValueError:
        try:
            widened = ipaddress.IPv4Network(text, strict=False)
        except ValueError:
            raise ValidationError(
                "Enter an IPv4 CIDR block such as 10.0.0.0/16.", code="invalid_cidr"
            ) from None
        raise ValidationError(
            "%(value)s has host bits set; the block it lies in is %(network)s.",
            code="cidr_host_bits",
            params={"value": text, "network": widened},
        ) from None
    return str(network)


def validate_cidr(value):
    normalize_cidr(value)


def validate_port(value):
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ValidationError(
            "A port is a whole number from 1 to 65535; %(value)s is not.",
            code="invalid_port",
            params={"value": value},
        )


def validate_ports(value):
    if not isinstance(value, list) or not value:
        raise ValidationError("List at least one service port.", code="invalid_ports")
    for port in value:
        validate_port(port)
    if len(set(value)) != len(value):
        raise ValidationError("Each service port may be listed once.", code="duplicate_ports")


_HOSTNAME_LABEL = re.compile(r"\A(?!-)[a-z0-9-]{1,63}(?<!-)\Z", re.IGNORECASE)


def validate_host(value):
    """A resource host is an IPv4 address or a DNS name."""
    text = str(value).strip()
    try:
        ipaddress.IPv4Address(text)
        return
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if len(text) > 253 or not all(_HOSTNAME_LABEL.match(label) for label in labels):
        raise ValidationError(
            "Enter an IPv4 address such as 10.1.2.3 or a host name such as db.internal.",
            code="invalid_host",
        )
    if labels[-1].isdigit():
        raise ValidationError(
            "%(value)s is not a valid IPv4 address.", code="invalid_host", params={"value": text}
        )
