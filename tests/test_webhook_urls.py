"""Where webhooks may go (SSRF): only public addresses over https, checked when the URL is
saved and again when sending, the connection made to the very address checked (no second
lookup) with TLS still checking the host name; and a URL's path, often a token itself,
kept out of the audit log."""

import socket

import pytest
from django_q.models import Schedule

from core.models import AuditEvent
from tests.support.audit import event_text
from tests.support.webhooks import (
    PUBLIC_IPV4,
    PUBLIC_IPV6,
    fake_dns,
    http_server,
    make_endpoint,
    new_url,
    send_test,
    tls_for,
    url_of,
)
from webhooks import queue, validators
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


BLOCKED = [
    ("127.0.0.1", "a loopback address"),
    ("10.1.2.3", "a private address"),
    ("172.16.5.4", "a private address"),
    ("192.168.1.10", "a private address"),
    ("169.254.169.254", "the cloud metadata address"),
    ("169.254.10.10", "a link-local address"),
    ("::1", "a loopback address"),
    ("fc00::1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("fe80::1", "a link-local address"),
    ("::ffff:127.0.0.1", "a loopback address"),
    ("::ffff:10.0.0.1", "a private address"),
    ("0.0.0.0", "the unspecified address"),
    ("::", "the unspecified address"),
    ("224.0.0.1", "a multicast address"),
    ("100.64.0.1", "not a public address"),
    ("240.0.0.1", "a reserved address"),
    ("2001:db8::1", "a private address"),  # documentation
    ("2002:7f00:1::", "a loopback address"),  # 6to4 around 127.0.0.1
    ("64:ff9b::a00:1", "a private address"),  # NAT64 around 10.0.0.1
]


@pytest.mark.parametrize(("address", "problem"), BLOCKED)
def test_it_refuses_a_host_resolving_to_a_non_public_address(monkeypatch, address, problem):
    fake_dns(monkeypatch, {"evil.example.com": [address]})
    with pytest.raises(validators.UnsafeUrl) as refused:
        validators.vet_url("https://evil.example.com/hook")
    assert str(refused.value).startswith(f"evil.example.com resolves to {address}, {problem}.")


@pytest.mark.parametrize(("address", "problem"), BLOCKED)
def test_it_refuses_a_non_public_address_written_in_the_url(address, problem):
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(validators.UnsafeUrl) as refused:
        validators.vet_url(f"https://{host}/hook")
    assert str(refused.value).startswith(f"{address} is {problem}.")


@pytest.mark.parametrize("spelling", ["127.1", "2130706433", "0x7f.1", "017700000001"])
def test_it_refuses_loopback_however_it_is_spelled(spelling):
    # Not addresses to the ipaddress module, but the resolver reads them as 127.0.0.1.
    with pytest.raises(validators.UnsafeUrl, match="127.0.0.1, a loopback address"):
        validators.vet_url(f"https://{spelling}/hook")


def test_it_refuses_a_host_when_any_of_its_addresses_is_private(monkeypatch):
    fake_dns(monkeypatch, {"mixed.example.com": [PUBLIC_IPV4, "10.0.0.5"]})
    with pytest.raises(validators.UnsafeUrl, match="10.0.0.5, a private address"):
        validators.vet_url("https://mixed.example.com/")


def test_it_accepts_a_host_with_only_public_addresses(public_dns):
    target = validators.vet_url("https://hooks.example.com:8443/peering?x=1")
    assert (target.host, target.port, target.host_is_address) == ("hooks.example.com", 8443, False)
    assert [str(a) for a in target.addresses] == [PUBLIC_IPV4, PUBLIC_IPV6]


def test_http_is_refused_unless_the_setting_allows_it(public_dns, settings):
    with pytest.raises(validators.UnsafeUrl, match="must start with https://"):
        validators.vet_url("http://hooks.example.com/")
    settings.WEBHOOK_ALLOW_HTTP = True
    assert validators.vet_url("http://hooks.example.com/").port == 80
    for url in ("ftp://hooks.example.com/", "file:///etc/passwd", "gopher://hooks.example.com/"):
        with pytest.raises(validators.UnsafeUrl, match="must start with https:// \\(or http://"):
            validators.vet_url(url)


def test_private_addresses_need_the_setting_and_metadata_is_refused_even_with_it(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    assert validators.vet_url("https://10.0.0.1/").host == "10.0.0.1"
    assert validators.vet_url("https://[::1]/").host == "::1"
    for metadata in (
        "169.254.169.254",
        "[::ffff:169.254.169.254]",
        "[fd00:ec2::254]",
        "169.254.170.2",
    ):
        with pytest.raises(validators.UnsafeUrl, match="the cloud metadata address"):
            validators.vet_url(f"https://{metadata}/latest/meta-data/")


def test_it_refuses_credentials_in_the_url_and_says_when_a_host_does_not_resolve(monkeypatch):
    with pytest.raises(validators.UnsafeUrl, match="no user name or password"):
        validators.vet_url("https://user:pw@hooks.example.com/")

    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(validators.Unresolvable, match="nowhere.example.com could not be"):
        validators.vet_url("https://nowhere.example.com/")


def test_the_form_refuses_an_unsafe_url_and_saves_nothing(client, owner, organization, monkeypatch):
    fake_dns(monkeypatch, {"internal.example.com": ["192.168.0.7"]})
    client.force_login(owner)
    for url, message in (
        ("https://internal.example.com/hook", "internal.example.com resolves to 192.168.0.7"),
        ("https://169.254.169.254/latest/", "169.254.169.254 is the cloud metadata address"),
        ("http://internal.example.com/hook", "must start with https://"),
    ):
        response = client.post(
            new_url(organization), {"url": url, "event_types": ["peering.running"]}
        )
        assert response.status_code == 200
        assert message in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


# --- checked again when sending ---


def test_it_checks_the_address_again_when_sending(
    receiver, organization, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """Saved while the name pointed somewhere public; by the time we send, it points at
    loopback, where a server really listens. Nothing reaches it, and no retry is made."""
    settings.WEBHOOK_ALLOW_HTTP = True
    endpoint = make_endpoint(organization, f"http://hooks.example.test:{receiver.port}/hooks")
    fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert receiver.received == []
    assert delivery.status == "failed"
    attempt = delivery.attempts.get()
    assert (attempt.status_code, attempt.outcome) == (None, "failed")
    assert attempt.error.startswith(
        "Not sent: hooks.example.test resolves to 127.0.0.1, a loopback address."
    )
    assert not Schedule.objects.filter(func=queue.DELIVER).exists()


def test_it_connects_to_the_address_it_checked_without_resolving_again(
    receiver, local_network, organization, monkeypatch, django_capture_on_commit_callbacks
):
    """DNS rebinding: the first answer passes the check, a second lookup would give another
    address. There is no second lookup: the connection goes to the checked address, with
    the original Host header."""

    def rebinding(lookup_number):
        if lookup_number == 1:
            return ["127.0.0.1"]
        raise AssertionError("the host name was resolved a second time")

    lookups = fake_dns(monkeypatch, {"hooks.example.test": rebinding})
    endpoint = make_endpoint(organization, f"http://hooks.example.test:{receiver.port}/hooks")
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert delivery.status == "succeeded"
    assert lookups == ["hooks.example.test"]
    assert receiver.received[0].headers["host"] == f"hooks.example.test:{receiver.port}"


def test_it_tries_the_next_checked_address_when_one_does_not_connect(
    receiver, local_network, organization, monkeypatch, django_capture_on_commit_callbacks
):
    # The server listens on IPv4 only; the name's first answer is IPv6.
    fake_dns(monkeypatch, {"hooks.example.test": ["::1", "127.0.0.1"]})
    endpoint = make_endpoint(organization, f"http://hooks.example.test:{receiver.port}/hooks")
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert delivery.status == "succeeded"
    assert len(receiver.received) == 1


def test_a_pinned_https_connection_still_checks_the_certificate_for_the_host_name(
    tmp_path, local_network, organization, monkeypatch, django_capture_on_commit_callbacks
):
    """Connecting to the checked IP must not weaken TLS: SNI and the certificate check use
    the host name of the URL, so the right certificate passes and a wrong one fails."""
    ca_file, tls = tls_for(tmp_path, "hooks.example.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # httpx trusts this CA only
    fake_dns(
        monkeypatch, {"hooks.example.test": ["127.0.0.1"], "impostor.example.test": ["127.0.0.1"]}
    )
    with http_server(tls) as server:
        endpoint = make_endpoint(organization, f"https://hooks.example.test:{server.port}/h")
        assert send_test(endpoint, django_capture_on_commit_callbacks).status == "succeeded"
        assert tls.server_names == ["hooks.example.test"]
        assert server.received[0].headers["host"] == f"hooks.example.test:{server.port}"

        impostor = make_endpoint(organization, f"https://impostor.example.test:{server.port}/h")
        delivery = send_test(impostor, django_capture_on_commit_callbacks)
        attempt = delivery.attempts.get()
        assert (attempt.status_code, attempt.outcome) == (None, "retrying")
        assert "CERTIFICATE_VERIFY_FAILED" in attempt.error
        assert len(server.received) == 1


# --- the path stays out of the audit log ---


def test_a_url_change_is_audited_without_the_paths_but_told_apart(
    client, owner, organization, public_dns
):
    token_url = "https://hooks.example.com/services/T000/B000/s3cr3tT0ken"
    endpoint = make_endpoint(organization, token_url)
    client.force_login(owner)
    client.post(
        url_of("edit", endpoint),
        {
            "url": "https://hooks.example.com/services/T000/B000/n3wT0ken",
            "event_types": ["peering.running"],
            "enabled": "on",
        },
    )
    changed = AuditEvent.objects.get(action="webhook.changed")
    assert changed.before["url"] != changed.after["url"]
    assert "T0ken" not in event_text(changed) and "services" not in event_text(changed)
    assert "T0ken" not in str(AuditEvent.objects.get(action="webhook.created").after)
