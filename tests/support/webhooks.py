"""Webhooks as the tests drive them: a real HTTP server that records what it is sent,
DNS answers of the test's choosing, a throwaway CA for https, endpoints, and what a
customer's receiver computes to check a signature."""

import ast
import hashlib
import hmac
import socket
import ssl
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.urls import reverse
from django_q.models import Schedule

from peerings.models import PeeringConnection
from peerings.services import transitions
from webhooks import queue, services, tasks

Status = PeeringConnection.Status  # for become_running
ALL_EVENTS = ["peering.running", "peering.failed", "peering.deleted", "peering.peer_deleted"]
PUBLIC_IPV4 = "93.184.215.14"
PUBLIC_IPV6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


# --- a real HTTP server, in a thread ---


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the name http.server calls)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append(
            Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        answer = self.server.answers.pop(0) if self.server.answers else (200, {}, b"")
        if answer == "hang":
            self.server.release.wait(5)
            return
        status, headers, content = answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *args):
        pass


@contextmanager
def http_server(tls=None):
    """A server on 127.0.0.1 that records each request and gives the next of its `answers`
    (200 once they run out). With `tls` (an ssl.SSLContext), it speaks https."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.received, server.answers, server.release = [], [], threading.Event()
    server.port = server.server_port
    server.url = f"http://127.0.0.1:{server.port}/hooks"
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        server.url = f"https://127.0.0.1:{server.port}/hooks"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def fake_dns(monkeypatch, answers):
    """socket.getaddrinfo answering `answers[host]` (a list of addresses, or a function of
    the call number returning one) for the names given; every other name really resolves.
    Returns the list of names looked up."""
    real = socket.getaddrinfo
    lookups = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        addresses = answers[host]
        if callable(addresses):
            addresses = addresses(lookups.count(host))
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def tls_for(directory, host_name):
    """A throwaway CA (its PEM file) and a server context whose certificate names only
    `host_name`; the context records the SNI names clients send in `.server_names`."""
    now = datetime.now(UTC)

    def certificate(subject, issuer, key, signing_key, extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Webhook test CA")])
    ca = certificate(
        ca_name,
        ca_name,
        ca_key,
        ca_key,
        [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                True,
            ),
            (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
        ],
    )
    leaf = certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_name)]),
        ca_name,
        key,
        ca_key,
        [
            (x509.SubjectAlternativeName([x509.DNSName(host_name)]), False),
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
        ],
    )
    pem = serialization.Encoding.PEM
    ca_file, chain_file, key_file = (directory / n for n in ("ca.pem", "chain.pem", "key.pem"))
    ca_file.write_bytes(ca.public_bytes(pem))
    chain_file.write_bytes(leaf.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_file, key_file)
    context.server_names = []
    context.sni_callback = lambda _socket, name, _context: context.server_names.append(name)
    return ca_file, context


# --- endpoints, events and deliveries ---


def make_endpoint(
    organization,
    url="https://hooks.example.com/peering",
    *,
    event_types=("peering.running",),
    enabled=True,
    description="",
):
    return services.create_endpoint(
        organization,
        url=url,
        event_types=list(event_types),
        enabled=enabled,
        description=description,
    )


def become_running(peering):
    return transitions.transition(
        peering, to=Status.RUNNING, allowed_from=[Status.PROVISIONING], action="peering.running"
    )


def expected_signature(secret, timestamp, body):
    """Independent of webhooks.client: what a customer's receiver computes."""
    return hmac.new(
        secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256
    ).hexdigest()


def signatures_of(request):
    return [part.removeprefix("v1=") for part in request.headers["webhook-signature"].split()]


def send_test(endpoint, capture):
    with capture(execute=True):
        delivery = services.send_test_event(endpoint)
    delivery.refresh_from_db()
    return delivery


def next_scheduled(delivery):
    """Run the retry the way the django-q2 scheduler would: the schedule's own func and
    args. Returns the schedule that was due."""
    schedule = Schedule.objects.filter(func="webhooks.tasks.deliver").order_by("-id").first()
    assert schedule is not None, "no retry was scheduled"
    assert schedule.func == queue.DELIVER
    assert ast.literal_eval(schedule.args) == (delivery.pk, delivery.attempt_count + 1)
    tasks.deliver(*ast.literal_eval(schedule.args))
    delivery.refresh_from_db()
    return schedule


@contextmanager
def closed_port():
    """A port that refuses connections for as long as it is held: bound, never listening,
    so no other test process can take it meanwhile."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


# --- the owner's pages ---


def list_url():
    return reverse("webhook-list")


def new_url(organization):
    return reverse("webhook-new", args=[organization.pk])


def url_of(name, endpoint):
    return reverse(f"webhook-{name}", args=[endpoint.pk])


def resend_url(delivery):
    return reverse("webhook-resend", args=[delivery.endpoint_id, delivery.pk])


@contextmanager
def dripping_server(delay=0.05):
    """A receiver on 127.0.0.1 that answers a byte at a time, `delay` seconds apart, each
    byte well inside any per-read timeout, an answer that takes 15 s in all: it holds a
    sender only as long as the sender lets it. `server.sent` counts the bytes it got out
    before the sender cut the connection, `server.answer` is all it would have sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = SimpleNamespace(
        url=f"http://127.0.0.1:{listener.getsockname()[1]}/hooks",
        answer=b"HTTP/1.1 200 OK\r\nX-Drip: " + b"x" * 300 + b"\r\n\r\n",
        sent=0,
        cut=threading.Event(),
    )

    def drip():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            try:
                for byte in server.answer:
                    connection.sendall(bytes([byte]))
                    server.sent += 1
                    time.sleep(delay)
            except OSError:
                pass  # the sender hung up: what the test wants to see
            server.cut.set()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        listener.close()
