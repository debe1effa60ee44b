import pytest
from django.core.exceptions import ValidationError

from peerings import validators

GOOD_AND_BAD = [
    (
        validators.validate_peering_id,
        ["pcx-1a2b3c4d", "pcx-0123456789abcdef0"],
        [
            "pcx-",
            "pcx-1a2b3c4",
            "pcx-0123456789ABCDEF0",
            "vpc-0123456789abcdef0",
            "pcx-0123456789abcdef",
            " pcx-1a2b3c4d",
            "pcx-1a2b3c4d\n",
            "pcx-1a2b3c4g",
        ],
    ),
    (
        validators.validate_vpc_id,
        ["vpc-1a2b3c4d", "vpc-0123456789abcdef0"],
        ["vpc-123", "pcx-0123456789abcdef0", "vpc-0123456789abcdef00", "VPC-1a2b3c4d"],
    ),
    (
        validators.validate_security_group_id,
        ["sg-1a2b3c4d", "sg-0123456789abcdef0"],
        ["sg-1a2b3c4", "sg-zzzzzzzz", "sec-1a2b3c4d"],
    ),
    (
        validators.validate_account_id,
        ["123456789012", "000000000001"],
        ["12345678901", "1234567890123", "12345678901a", "1234-5678-9012", "١٢٣٤٥٦٧٨٩٠١٢"],
    ),
    (
        validators.validate_region,
        ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "eu-central-2"],
        ["us-east", "US-EAST-1", "useast1", "us-east-1a", "moon-1"],
    ),
    (
        validators.validate_host,
        ["10.1.2.3", "db.internal", "kafka-1.example.com", "localhost"],
        ["10.1.2.300", "-bad.example", "a" * 64 + ".com", "has space", "<script>", "1.2.3"],
    ),
]


@pytest.mark.parametrize(
    ("validator", "value"),
    [(v, good) for v, goods, _ in GOOD_AND_BAD for good in goods],
)
def test_it_accepts_good_values(validator, value):
    validator(value)


@pytest.mark.parametrize(
    ("validator", "value"),
    [(v, bad) for v, _, bads in GOOD_AND_BAD for bad in bads],
)
def test_it_rejects_bad_values(validator, value):
    with pytest.raises(ValidationError):
        validator(value)


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("10.0.0.0/16", "10.0.0.0/16"),
        (" 172.16.4.0/24 ", "172.16.4.0/24"),
        ("192.168.0.0/255.255.0.0", "192.168.0.0/16"),
    ],
)
def test_it_normalises_cidrs(given, canonical):
    assert validators.normalize_cidr(given) == canonical


@pytest.mark.parametrize("bad", ["10.0.0.0", "10.0.0.0/33", "fd00::/8", "ten/8", "", "10.0.0/16"])
def test_it_rejects_what_is_not_an_ipv4_cidr(bad):
    with pytest.raises(ValidationError, match="IPv4 CIDR"):
        validators.normalize_cidr(bad)


def test_it_refuses_host_bits_and_names_the_block():
    with pytest.raises(ValidationError) as caught:
        validators.normalize_cidr("10.0.5.0/16")
    assert "10.0.0.0/16" in caught.value.messages[0]


@pytest.mark.parametrize("port", [1, 80, 65535])
def test_it_accepts_ports_in_range(port):
    validators.validate_port(port)


@pytest.mark.parametrize("port", [0, -1, 65536, True, "80", 1.5])
def test_it_rejects_ports_out_of_range(port):
    with pytest.raises(ValidationError):
        validators.validate_port(port)


def test_it_rejects_empty_or_repeated_service_ports():
    for bad in ([], [1883, 1883], "1883", [0]):
        with pytest.raises(ValidationError):
            validators.validate_ports(bad)
    validators.validate_ports([1883, 8883])
