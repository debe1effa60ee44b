"""Signed webhooks on peering events: endpoints managed by owners, one delivery per subscribed
endpoint on each status change, sent over real HTTP to a server this module starts, retried
with backoff (schedules, never sleeps), refused for any address that is not public, and never
showing the secret again after the response that created it."""

import ast
import hashlib
import hmac
import json
import logging
import runpy
import socket
import ssl
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from core.models import AuditEvent
from peerings import services as peering_services
from peerings.models import PeeringConnection
from peerings.services import transitions
from tests.conftest import event_text
from webhooks import queue, services, tasks, validators
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, redacted_url

pytestmark = pytest.mark.django_db

Status = PeeringConnection.Status
HTMX = {"HTTP_HX_REQUEST": "true"}
ALL_EVENTS = ["peering.running", "peering.failed", "peering.deleted", "peering.peer_deleted"]
PUBLIC_IPV4 = "93.184.215.14"
PUBLIC_IPV6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
SETTINGS_FILE = Path(__file__).resolve().parent.parent / "peering_portal" / "settings.py"


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


@pytest.fixture
def receiver():
    with http_server() as server:
        yield server


@pytest.fixture
def local_network(settings):
    """What local development turns on, for this test only: http, and loopback."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True


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


@pytest.fixture
def public_dns(monkeypatch):
    return fake_dns(
        monkeypatch,
        {"hooks.example.com": [PUBLIC_IPV4, PUBLIC_IPV6], "other.example.com": [PUBLIC_IPV4]},
    )


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


# --- helpers ---


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


def make_peering(deployment, status=Status.PROVISIONING, n=1):
    return PeeringConnection.objects.create(
        deployment=deployment,
        peering_id=f"pcx-{n:017x}",
        customer_account_id="210987654321",
        customer_vpc_id=f"vpc-{n:017x}",
        customer_cidrs=["172.16.0.0/24"],
        status=status,
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


def list_url():
    return reverse("webhook-list")


def new_url(organization):
    return reverse("webhook-new", args=[organization.pk])


def url_of(name, endpoint):
    return reverse(f"webhook-{name}", args=[endpoint.pk])


# --- 1. delivery over real HTTP, signed ---


def test_it_delivers_a_signed_event_to_a_real_server(
    receiver, local_network, organization, deployment, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    peering = make_peering(deployment)
    with django_capture_on_commit_callbacks(execute=True):
        assert become_running(peering)

    assert len(receiver.received) == 1
    request = receiver.received[0]
    assert (request.method, request.path) == ("POST", "/hooks")
    assert request.headers["content-type"] == "application/json"
    assert "Peering Portal" in request.headers["user-agent"]
    timestamp = request.headers["webhook-timestamp"]
    assert abs(time.time() - int(timestamp)) < 60
    signature = request.headers["webhook-signature"]
    assert signature == "v1=" + expected_signature(endpoint.secret, timestamp, request.body)
    # The signature covers the timestamp and every byte of the body.
    assert signature != "v1=" + expected_signature(
        endpoint.secret, str(int(timestamp) + 1), request.body
    )
    assert signature != "v1=" + expected_signature(endpoint.secret, timestamp, request.body + b" ")

    event = json.loads(request.body)
    assert event == {
        "type": "peering.running",
        "id": request.headers["webhook-id"],
        "created_at": peering.status_changed_at.isoformat(),
        "organization": {"id": organization.pk, "name": "Acme"},
        "deployment": {"id": deployment.pk, "name": "orders", "region": "us-east-1"},
        "peering": {
            "id": peering.pk,
            "peering_id": peering.peering_id,
            "customer_account_id": "210987654321",
            "customer_vpc_id": peering.customer_vpc_id,
            "customer_cidrs": ["172.16.0.0/24"],
            "status": "running",
            "previous_status": "provisioning",
            "status_reason": "",
        },
    }
    assert datetime.fromisoformat(event["created_at"]).tzinfo is not None

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 1)
    assert str(delivery.event_id) == event["id"]
    attempt = delivery.attempts.get()
    assert (attempt.number, attempt.status_code, attempt.outcome, attempt.error) == (
        1,
        200,
        "succeeded",
        "",
    )
    assert attempt.duration_ms >= 0
    assert not Schedule.objects.filter(func=queue.DELIVER).exists()


def test_a_failure_event_carries_the_reason(
    receiver, local_network, organization, deployment, django_capture_on_commit_callbacks
):
    make_endpoint(organization, receiver.url, event_types=["peering.failed"])
    peering = make_peering(deployment, Status.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        assert peering_services.fail(
            peering, reason="The request comes from another VPC.", retryable=False
        )
    event = json.loads(receiver.received[0].body)
    assert event["type"] == "peering.failed"
    assert event["peering"]["status"] == "failed"
    assert event["peering"]["previous_status"] == "pending"
    assert event["peering"]["status_reason"] == "The request comes from another VPC."


# --- 2. which endpoints get which events ---


def test_a_status_change_makes_one_delivery_per_subscribed_enabled_endpoint_of_the_org(
    organization, deployment, outsider, django_capture_on_commit_callbacks
):
    other_organization = outsider.memberships.get().organization
    subscribed = [
        make_endpoint(organization, "https://a.example.com/"),
        make_endpoint(organization, "https://b.example.com/", event_types=ALL_EVENTS),
    ]
    make_endpoint(
        organization,
        "https://unsubscribed.example.com/",
        event_types=["peering.failed", "peering.deleted"],
    )
    make_endpoint(organization, "https://disabled.example.com/", enabled=False)
    make_endpoint(other_organization, "https://other-org.example.com/")
    peering = make_peering(deployment)

    with django_capture_on_commit_callbacks() as queued:
        assert become_running(peering)

    deliveries = list(WebhookDelivery.objects.order_by("endpoint_id"))
    assert [d.endpoint_id for d in deliveries] == [e.pk for e in subscribed]
    assert {d.event_type for d in deliveries} == {"peering.running"}
    assert {d.status for d in deliveries} == {"pending"}
    # One event, one ID and one body, whoever receives it.
    assert len({d.event_id for d in deliveries}) == 1
    assert len({d.body for d in deliveries}) == 1
    # One send queued per delivery, for when the transaction commits.
    assert len(queued) == 2


@pytest.mark.parametrize(
    ("previous", "to", "event_type"),
    [
        (Status.PROVISIONING, Status.RUNNING, "peering.running"),
        (Status.PENDING, Status.FAILED, "peering.failed"),
        (Status.DELETING, Status.DELETED, "peering.deleted"),
        (Status.RUNNING, Status.PEER_DELETED, "peering.peer_deleted"),
        (Status.PENDING, Status.PROVISIONING, None),
        (Status.RUNNING, Status.DELETING, None),
        (Status.FAILED, Status.PENDING, None),
    ],
)
def test_each_settled_status_is_an_event_and_no_transitional_one_is(
    organization, deployment, previous, to, event_type, django_capture_on_commit_callbacks
):
    make_endpoint(organization, event_types=ALL_EVENTS)
    peering = make_peering(deployment, previous)
    with django_capture_on_commit_callbacks() as queued:
        assert transitions.transition(
            peering, to=to, allowed_from=[previous], action=f"peering.{to}"
        )
    deliveries = list(WebhookDelivery.objects.all())
    if event_type is None:
        assert deliveries == [] and queued == []
        return
    assert [d.event_type for d in deliveries] == [event_type]
    body = json.loads(deliveries[0].body)
    assert (body["type"], body["peering"]["status"]) == (event_type, to)
    assert body["peering"]["previous_status"] == previous


def test_a_rolled_back_change_notifies_nobody(
    organization, deployment, django_capture_on_commit_callbacks
):
    make_endpoint(organization)
    peering = make_peering(deployment)
    with (
        django_capture_on_commit_callbacks() as queued,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        assert become_running(peering)
        raise RuntimeError("the rest of the change failed")
    assert not WebhookDelivery.objects.exists()
    assert queued == []


def test_a_webhook_failure_never_blocks_a_peering_change(
    organization, deployment, monkeypatch, caplog
):
    make_endpoint(organization)
    peering = make_peering(deployment)

    def broken(*args, **kwargs):
        # A database error: on PostgreSQL it aborts the transaction unless a savepoint
        # contains it.
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(services, "record_peering_event", broken)
    assert become_running(peering)
    peering.refresh_from_db()
    assert peering.status == "running"
    assert AuditEvent.objects.filter(action="peering.running").exists()
    assert not WebhookDelivery.objects.exists()
    assert "no deliveries made for peering" in caplog.text


# --- 3. retries ---


def test_it_retries_a_503_later_and_then_succeeds(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    receiver.answers = [(503, {}, b"down for maintenance"), (200, {}, b"")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)

    assert (delivery.status, delivery.attempt_count) == ("pending", 1)
    first = delivery.attempts.get()
    assert (first.status_code, first.outcome) == (503, "retrying")
    assert "503" in first.error and "down for maintenance" in first.error
    schedule = Schedule.objects.get(func=queue.DELIVER)
    assert schedule.schedule_type == Schedule.ONCE
    assert schedule.repeats == -1  # the scheduler deletes it once it has run
    assert 29 <= (schedule.next_run - first.started_at).total_seconds() <= 45
    assert delivery.next_attempt_at == schedule.next_run

    next_scheduled(delivery)

    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)
    assert delivery.next_attempt_at is None
    assert [(a.number, a.status_code, a.outcome) for a in delivery.attempts.all()] == [
        (1, 503, "retrying"),
        (2, 200, "succeeded"),
    ]
    assert len(receiver.received) == 2
    # The same event, byte for byte, signed again for its new timestamp.
    first_request, second_request = receiver.received
    assert first_request.body == second_request.body
    assert first_request.headers["webhook-id"] == second_request.headers["webhook-id"]
    timestamp = second_request.headers["webhook-timestamp"]
    assert second_request.headers["webhook-signature"] == "v1=" + expected_signature(
        endpoint.secret, timestamp, second_request.body
    )


def test_a_429_is_retried_no_sooner_than_retry_after(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    receiver.answers = [(429, {"Retry-After": "120"}, b"slow down")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    attempt = delivery.attempts.get()
    assert (delivery.status, attempt.status_code, attempt.outcome) == ("pending", 429, "retrying")
    schedule = Schedule.objects.get(func=queue.DELIVER)
    assert 119 <= (schedule.next_run - attempt.started_at).total_seconds() <= 135


def test_a_400_is_final(receiver, local_network, organization, django_capture_on_commit_callbacks):
    receiver.answers = [(400, {}, b'{"error": "bad signature"}')]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert (delivery.status, delivery.attempt_count) == ("failed", 1)
    attempt = delivery.attempts.get()
    assert (attempt.status_code, attempt.outcome) == (400, "failed")
    assert "bad signature" in attempt.error
    assert delivery.finished_at is not None
    assert not Schedule.objects.filter(func=queue.DELIVER).exists()
    # A stray second run of the task sends nothing.
    assert tasks.deliver(delivery.pk) == "failed"
    assert len(receiver.received) == 1


def test_attempts_are_bounded(
    receiver, local_network, organization, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.answers = [(500, {}, b"")] * 5
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    delays = []
    for _ in range(2):
        schedule = next_scheduled(delivery)
        first_attempt_time = delivery.attempts.get(number=len(delays) + 1).started_at
        delays.append((schedule.next_run - first_attempt_time).total_seconds())
    assert (delivery.status, delivery.attempt_count) == ("failed", 3)
    assert [a.outcome for a in delivery.attempts.all()] == ["retrying", "retrying", "failed"]
    assert 29 <= delays[0] <= 45 and 59 <= delays[1] <= 75  # doubling
    assert Schedule.objects.filter(func=queue.DELIVER).count() == 2
    assert len(receiver.received) == 3


def test_the_backoff_doubles_up_to_a_cap_and_honours_a_longer_retry_after():
    assert [services.backoff_seconds(n) for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert services.backoff_seconds(20) == services.BACKOFF_MAX_SECONDS == 3600
    assert services.backoff_seconds(1, retry_after=5) == 30  # never sooner than the backoff
    assert services.backoff_seconds(1, retry_after=300) == 300
    assert services.backoff_seconds(1, retry_after=10**6) == 3600


def test_a_connection_error_is_retried(
    local_network, organization, django_capture_on_commit_callbacks
):
    with closed_port() as port:
        endpoint = make_endpoint(organization, f"http://127.0.0.1:{port}/hooks")
        delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    attempt = delivery.attempts.get()
    assert (delivery.status, attempt.status_code, attempt.outcome) == ("pending", None, "retrying")
    assert attempt.error.startswith("Network error")
    assert Schedule.objects.filter(func=queue.DELIVER).count() == 1


def test_a_slow_endpoint_times_out_and_is_retried(
    receiver, local_network, organization, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_TIMEOUT = 0.2
    receiver.answers = ["hang"]
    endpoint = make_endpoint(organization, receiver.url)
    started = time.monotonic()
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert time.monotonic() - started < 3
    attempt = delivery.attempts.get()
    assert (attempt.status_code, attempt.outcome) == (None, "retrying")
    assert "No answer within 0.2 s" in attempt.error


def test_a_redirect_is_a_final_failure_and_is_not_followed(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    with http_server() as target:
        receiver.answers = [(302, {"Location": target.url}, b"")]
        endpoint = make_endpoint(organization, receiver.url)
        delivery = send_test(endpoint, django_capture_on_commit_callbacks)
        assert target.received == []
    assert len(receiver.received) == 1
    assert delivery.status == "failed"
    attempt = delivery.attempts.get()
    assert (attempt.status_code, attempt.outcome) == (302, "failed")
    assert "redirects to" in attempt.error and target.url in attempt.error
    assert "do not follow redirects" in attempt.error
    assert not Schedule.objects.filter(func=queue.DELIVER).exists()


# --- 4. the task's bookkeeping ---


def test_a_delivery_whose_endpoint_was_disabled_meanwhile_is_cancelled(
    receiver, local_network, organization, deployment, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    with django_capture_on_commit_callbacks() as queued:
        assert become_running(make_peering(deployment))
    services.update_endpoint(endpoint, enabled=False)
    for send in queued:
        send()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == ("cancelled", 0)
    assert receiver.received == []


def test_a_test_event_goes_to_a_disabled_endpoint(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url, enabled=False)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert delivery.status == "succeeded"
    event = json.loads(receiver.received[0].body)
    assert event["type"] == "webhook.test"
    assert event["organization"] == {"id": organization.pk, "name": "Acme"}
    assert (event["deployment"], event["peering"]) == (None, None)


def test_a_task_for_a_deleted_endpoint_does_nothing(
    organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization)
    with django_capture_on_commit_callbacks() as queued:
        delivery = services.send_test_event(endpoint)
    services.delete_endpoint(endpoint)
    assert not WebhookDelivery.objects.filter(pk=delivery.pk).exists()
    assert tasks.deliver(delivery.pk) is None
    assert len(queued) == 1


def test_of_two_workers_holding_the_same_delivery_one_makes_the_attempt(organization):
    endpoint = make_endpoint(organization)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}"
    )
    first = WebhookDelivery.objects.get(pk=delivery.pk)
    second = WebhookDelivery.objects.get(pk=delivery.pk)
    assert services.claim_next_attempt(first) == 1
    assert services.claim_next_attempt(second) is None
    delivery.refresh_from_db()
    assert delivery.attempt_count == 1


# --- 4b. work lost with a worker or a broker is taken over ---


def overdue(delivery):
    """A moment after the delivery's next step counts as lost."""
    delivery.refresh_from_db()
    return delivery.presumed_lost_at + timedelta(seconds=1)


def test_an_attempt_lost_with_its_worker_is_recorded_as_such_and_retried(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    with django_capture_on_commit_callbacks(execute=False):  # the queued send: see below
        delivery = services.send_test_event(endpoint)
    claimed_at = timezone.now()
    assert services.claim_next_attempt(delivery) == 1  # ...and the worker is SIGKILLed
    delivery.refresh_from_db()
    assert delivery.presumed_lost_at > claimed_at + timedelta(seconds=settings_q_timeout())

    assert services.recover_stalled_deliveries(now=delivery.presumed_lost_at) == {}
    with django_capture_on_commit_callbacks(execute=True):
        found = services.recover_stalled_deliveries(now=overdue(delivery))

    assert found == {"lost mid-attempt, retried": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)
    lost, made = delivery.attempts.all()
    assert (lost.number, lost.outcome, lost.status_code) == (1, "retrying", None)
    assert lost.error == services.LOST_ATTEMPT_ERROR
    assert abs((lost.started_at - claimed_at).total_seconds()) < 5
    assert (made.number, made.status_code, made.outcome) == (2, 200, "succeeded")
    assert len(receiver.received) == 1


def settings_q_timeout():
    from django.conf import settings

    return settings.Q_TIMEOUT


def test_a_queued_send_that_never_ran_is_queued_again(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    with django_capture_on_commit_callbacks(execute=False):  # the broker lost the task
        delivery = services.send_test_event(endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        found = services.recover_stalled_deliveries(now=overdue(delivery))
    assert found == {"re-queued": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 1)
    assert [a.outcome for a in delivery.attempts.all()] == ["succeeded"]
    assert delivery.presumed_lost_at is None
    assert len(receiver.received) == 1


def test_a_retry_whose_schedule_was_lost_is_made_and_a_late_duplicate_then_does_nothing(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    receiver.answers = [(503, {}, b""), (503, {}, b"")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    schedule = Schedule.objects.get(func=queue.DELIVER)
    retry_args = ast.literal_eval(schedule.args)
    schedule.delete()  # say, a database restored without it

    with django_capture_on_commit_callbacks(execute=True):
        assert services.recover_stalled_deliveries(now=overdue(delivery)) == {"re-queued": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("pending", 2)  # 503 again

    # The old retry, had it survived: still pending, but its attempt (2) has been made.
    assert tasks.deliver(*retry_args) is None
    delivery.refresh_from_db()
    assert delivery.attempt_count == 2
    assert delivery.attempts.count() == 2
    assert len(receiver.received) == 2


def test_a_stale_copy_of_a_task_never_makes_its_attempt_twice(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    receiver.answers = [(503, {}, b"")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert services.attempt_delivery(delivery.pk, 1) is None  # a broker's redelivery
    delivery.refresh_from_db()
    assert delivery.attempt_count == 1
    assert len(receiver.received) == 1


def test_the_last_attempt_lost_with_its_worker_fails_the_delivery(
    organization, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    endpoint = make_endpoint(organization)
    with django_capture_on_commit_callbacks(execute=False):
        delivery = services.send_test_event(endpoint)
    services.claim_next_attempt(delivery)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        found = services.recover_stalled_deliveries(now=overdue(delivery))
    assert found == {"lost mid-attempt, failed": 1}
    assert queued == []
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.finished_at is not None
    assert [(a.number, a.outcome) for a in delivery.attempts.all()] == [(1, "failed")]


def test_the_sweep_leaves_alone_what_is_on_time_or_finished(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    done = send_test(endpoint, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        waiting = services.send_test_event(endpoint)
    waiting.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True) as queued:
        found = services.recover_stalled_deliveries(
            now=waiting.presumed_lost_at - timedelta(seconds=1)
        )
    assert found == {} and queued == []
    done.refresh_from_db()
    assert done.status == "succeeded" and done.attempts.count() == 1


def test_of_the_sweep_and_a_late_worker_only_one_takes_a_delivery_over(
    organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization)
    with django_capture_on_commit_callbacks(execute=False):
        delivery = services.send_test_event(endpoint)
    stale = WebhookDelivery.objects.get(pk=delivery.pk)  # as the sweep read it
    services.claim_next_attempt(delivery)  # the worker starts after all
    with django_capture_on_commit_callbacks(execute=True) as queued:
        later = stale.presumed_lost_at + timedelta(seconds=1)
        assert services._take_over(stale, later) == "moved on meanwhile"
    assert queued == []


def test_the_sweep_keeps_off_a_delivery_whose_deadline_moved_meanwhile(
    organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization)
    with django_capture_on_commit_callbacks(execute=False):
        delivery = services.send_test_event(endpoint)
    stale = WebhookDelivery.objects.get(pk=delivery.pk)
    later = stale.presumed_lost_at + timedelta(seconds=1)
    # Another sweep took it over first: same attempt count, a new deadline.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        presumed_lost_at=later + timedelta(minutes=10)
    )
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert services._take_over(stale, later) == "moved on meanwhile"
    assert queued == []


def test_a_delivery_made_before_deadlines_existed_is_swept_once_long_overdue(
    receiver, local_network, organization, settings, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    created = timezone.now() - timedelta(seconds=settings.RECONCILE_STUCK_AFTER + 5)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}", created_at=created
    )
    retrying = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="webhook.test",
        body="{}",
        created_at=created,
        attempt_count=1,
        next_attempt_at=timezone.now(),
    )
    WebhookAttempt.objects.create(
        delivery=retrying,
        number=1,
        started_at=created,
        duration_ms=5,
        status_code=503,
        outcome="retrying",
    )
    with django_capture_on_commit_callbacks(execute=True):
        found = services.recover_stalled_deliveries()
    assert found == {"re-queued": 1}  # not the one whose retry is still to come
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"


def test_one_delivery_that_cannot_be_taken_over_does_not_keep_the_others_waiting(
    organization, monkeypatch, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization)
    with django_capture_on_commit_callbacks(execute=False):
        broken = services.send_test_event(endpoint)
        fine = services.send_test_event(endpoint)
    real_take_over = services._take_over

    def take_over(delivery, now):
        if delivery.pk == broken.pk:
            raise RuntimeError("a row that cannot be taken over")
        return real_take_over(delivery, now)

    monkeypatch.setattr(services, "_take_over", take_over)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        found = services.recover_stalled_deliveries(now=overdue(fine))
    assert found == {"re-queued": 1, "could not be taken over (see the log)": 1}
    assert len(queued) == 1


def test_the_recovery_schedule_is_not_put_back_for_webhooks_migrated_back_before_it(db):
    from django.db.migrations.loader import MigrationLoader

    from webhooks import signals

    Schedule.objects.filter(func=queue.RECOVER).delete()
    before_recovery = MigrationLoader(connection).project_state(("webhooks", "0001_initial"))
    signals.keep_bootstrap_rows(sender=None, apps=before_recovery.apps)
    assert not Schedule.objects.filter(func=queue.RECOVER).exists()
    signals.keep_bootstrap_rows(sender=None)  # a flush: the code's own models
    assert Schedule.objects.filter(func=queue.RECOVER).count() == 1


def test_the_recovery_schedule_exists_and_its_task_reports_what_it_did(db):
    schedule = Schedule.objects.get(func=queue.RECOVER)
    assert schedule.schedule_type == Schedule.MINUTES and schedule.repeats == -1
    assert tasks.recover_stalled_deliveries() == "nothing"


# --- 4c. sending a failed delivery again ---


def resend_url(delivery):
    return reverse("webhook-resend", args=[delivery.endpoint_id, delivery.pk])


def test_an_owner_sends_a_failed_delivery_again_as_the_same_event(
    receiver, local_network, organization, owner, client, django_capture_on_commit_callbacks
):
    receiver.answers = [(410, {}, b"gone for a deploy"), (200, {}, b"")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert delivery.status == "failed"  # a 4xx is final
    client.force_login(owner)
    page = client.get(url_of("detail", endpoint)).content.decode()
    assert resend_url(delivery) in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(resend_url(delivery), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'id="deliveries"' in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)
    assert [(a.number, a.status_code) for a in delivery.attempts.all()] == [(1, 410), (2, 200)]
    first, again = receiver.received
    assert first.body == again.body
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    resent = AuditEvent.objects.get(action="webhook.resent")
    assert (resent.actor, resent.after["event_id"]) == (owner, str(delivery.event_id))


def test_only_a_failed_or_cancelled_delivery_of_an_enabled_endpoint_is_sent_again(
    organization, owner, client, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization)
    client.force_login(owner)
    for status in ("pending", "succeeded"):
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event_type="webhook.test", body="{}", status=status
        )
        with django_capture_on_commit_callbacks(execute=False) as queued:
            page = client.post(resend_url(delivery), HTTP_HX_REQUEST="true").content.decode()
        assert "Only a delivery that failed or was cancelled" in page and not queued
        delivery.refresh_from_db()
        assert delivery.status == status
    failed = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}", status="failed"
    )
    services.update_endpoint(endpoint, enabled=False)
    assert resend_url(failed) not in client.get(url_of("detail", endpoint)).content.decode()
    response = client.post(resend_url(failed), follow=True)
    assert "Enable the endpoint first" in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == "failed"
    assert not AuditEvent.objects.filter(action="webhook.resent").exists()


def test_a_cancelled_delivery_is_sent_again_and_a_second_click_is_refused(
    receiver, local_network, organization, owner, client, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    cancelled = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="peering.running", body="{}", status="cancelled"
    )
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        client.post(resend_url(cancelled))
        second = client.post(resend_url(cancelled), follow=True).content.decode()
    assert len(queued) == 1 and "Only a delivery that failed or was cancelled" in second
    assert AuditEvent.objects.filter(action="webhook.resent").count() == 1
    for callback in queued:
        callback()
    cancelled.refresh_from_db()
    assert (cancelled.status, cancelled.attempt_count) == ("succeeded", 1)
    assert len(receiver.received) == 1


def test_a_delivery_of_another_endpoint_is_not_found(organization, owner, client):
    mine, other = make_endpoint(organization), make_endpoint(organization)
    theirs = WebhookDelivery.objects.create(
        endpoint=other, event_type="webhook.test", body="{}", status="failed"
    )
    client.force_login(owner)
    url = reverse("webhook-resend", args=[mine.pk, theirs.pk])
    assert client.post(url).status_code == 404


# --- 5. SSRF: where webhooks may go ---

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


# --- 6. the secret: shown once, then never again ---


def test_the_secret_is_shown_once_and_never_again(client, owner, organization, public_dns, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(owner)
    response = client.post(
        new_url(organization),
        {
            "url": "https://hooks.example.com/peering",
            "description": "Ops alerts",
            "event_types": ["peering.running", "peering.failed"],
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    first = endpoint.secret
    assert first.startswith("whsec_") and len(first) > 40
    assert f'<code id="signing-secret">{first}</code>' in response.content.decode()
    assert "no-store" in response["Cache-Control"]

    def pages():
        """Every page an owner can open afterwards, as text."""
        responses = [
            client.get(list_url()),
            client.get(url_of("detail", endpoint)),
            client.get(url_of("detail", endpoint), **HTMX),
            client.get(url_of("edit", endpoint)),
            client.get(url_of("rotate", endpoint)),
            client.get(url_of("delete", endpoint)),
            client.get(reverse("audit-log")),
            client.get(reverse("audit-export")),
        ]
        assert [r.status_code for r in responses] == [200] * len(responses)
        return [
            (b"".join(r.streaming_content) if r.streaming else r.content).decode()
            for r in responses
        ]

    for text in pages():
        assert first not in text

    # The old secret keeps signing for a day: it is kept, and must stay as unseen as ever.
    response = client.post(url_of("rotate", endpoint), {"keep_previous": "24h"})
    assert response.status_code == 200
    endpoint.refresh_from_db()
    second = endpoint.secret
    assert second != first
    assert second in response.content.decode()
    assert first not in response.content.decode()
    assert "no-store" in response["Cache-Control"]

    for text in pages():
        assert first not in text and second not in text

    events = AuditEvent.objects.filter(action__startswith="webhook.")
    assert {e.action for e in events} == {"webhook.created", "webhook.secret_rotated"}
    recorded = json.dumps([[e.before, e.after, e.message, e.target_repr] for e in events])
    assert first not in recorded and second not in recorded
    assert first not in caplog.text and second not in caplog.text


def signatures_of(request):
    return [part.removeprefix("v1=") for part in request.headers["webhook-signature"].split()]


def test_during_a_rotations_overlap_each_event_is_signed_with_both_secrets(
    receiver,
    local_network,
    organization,
    client,
    owner,
    public_dns,
    django_capture_on_commit_callbacks,
):
    endpoint = make_endpoint(organization, receiver.url)
    old = endpoint.secret
    client.force_login(owner)
    assert client.post(url_of("rotate", endpoint), {"keep_previous": "1h"}).status_code == 200
    endpoint.refresh_from_db()
    assert (
        "the previous one also signs until"
        in client.get(url_of("detail", endpoint)).content.decode()
    )
    # Rotating again meanwhile would end that overlap: the page says so first.
    assert 'id="overlap-ends"' in client.get(url_of("rotate", endpoint)).content.decode()
    send_test(endpoint, django_capture_on_commit_callbacks)
    request = receiver.received[-1]
    timestamp = request.headers["webhook-timestamp"]
    assert signatures_of(request) == [
        expected_signature(endpoint.secret, timestamp, request.body),
        expected_signature(old, timestamp, request.body),
    ]

    # Once the overlap is over, the new secret alone.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    endpoint.refresh_from_db()
    send_test(endpoint, django_capture_on_commit_callbacks)
    request = receiver.received[-1]
    assert signatures_of(request) == [
        expected_signature(endpoint.secret, request.headers["webhook-timestamp"], request.body)
    ]


def test_a_leaked_secret_stops_signing_at_once(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    services.rotate_secret(endpoint)  # no overlap
    endpoint.refresh_from_db()
    assert endpoint.previous_secret == "" and endpoint.signing_secrets() == [endpoint.secret]
    send_test(endpoint, django_capture_on_commit_callbacks)
    assert len(signatures_of(receiver.received[-1])) == 1


def test_rotating_needs_a_choice_of_overlap(client, owner, organization, public_dns):
    endpoint = make_endpoint(organization)
    secret = endpoint.secret
    client.force_login(owner)
    response = client.post(url_of("rotate", endpoint), {"keep_previous": "forever"})
    assert '<ul class="errorlist" id="errors-keep_previous">' in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret == secret


def test_the_secret_stays_out_of_logs_and_records_when_delivering(
    receiver, local_network, organization, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    receiver.answers = [(503, {}, b"busy"), (400, {}, b"nope")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    next_scheduled(delivery)
    assert len(receiver.received) == 2
    assert endpoint.secret not in caplog.text
    recorded = [delivery.body] + [a.error for a in delivery.attempts.all()]
    assert not any(endpoint.secret in text for text in recorded)
    assert endpoint.secret not in repr(endpoint) and endpoint.secret not in str(endpoint)
    # Nor the URL's path, often a token itself: our log lines name the host only.
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("webhooks")]
    assert ours and not [line for line in ours if "/hooks" in line]


def test_the_admin_never_shows_the_secret_and_changes_nothing(client, organization):
    superuser = get_user_model().objects.create_superuser("root", password="pw-root")
    endpoint = make_endpoint(organization)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}"
    )
    client.force_login(superuser)
    for url in (
        "/admin/webhooks/webhookendpoint/",
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
        "/admin/webhooks/webhookdelivery/",
        f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert endpoint.secret not in response.content.decode()
    response = client.post(
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
        {"url": "https://other.example.com/"},
    )
    assert response.status_code == 403
    assert client.get("/admin/webhooks/webhookendpoint/add/").status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/peering"


def test_support_reads_deliveries_and_their_attempts_but_never_the_secret(client, organization):
    from django.contrib.auth.models import Group

    sam = get_user_model().objects.create_user("sam", password="pw-sam", is_staff=True)
    sam.groups.add(Group.objects.get(name="Support"))
    endpoint = make_endpoint(organization)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}", attempt_count=1
    )
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=timezone.now(),
        duration_ms=12,
        status_code=503,
        error="HTTP 503 from the endpoint",
        outcome="retrying",
    )
    client.force_login(sam)
    page = client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert "HTTP 503 from the endpoint" in page.content.decode()
    for url in (
        "/admin/webhooks/webhookendpoint/",
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert endpoint.secret not in response.content.decode()
    assert (
        client.post(
            f"/admin/webhooks/webhookendpoint/{endpoint.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


# --- 7. who may do what ---


def management_requests(organization, endpoint, delivery=None):
    resend = (
        []
        if delivery is None
        else [("post", reverse("webhook-resend", args=[endpoint.pk, delivery.pk]))]
    )
    return [
        *resend,
        ("get", new_url(organization)),
        ("post", new_url(organization)),
        ("get", url_of("detail", endpoint)),
        ("get", url_of("edit", endpoint)),
        ("post", url_of("edit", endpoint)),
        ("get", url_of("rotate", endpoint)),
        ("post", url_of("rotate", endpoint)),
        ("get", url_of("delete", endpoint)),
        ("post", url_of("delete", endpoint)),
        ("post", url_of("test", endpoint)),
    ]


@pytest.mark.parametrize(
    ("role", "expected"), [("outsider", 404), ("viewer", 403), ("member", 403)]
)
def test_only_owners_manage_webhooks(client, request, organization, role, expected, public_dns):
    endpoint = make_endpoint(organization)
    secret = endpoint.secret
    failed = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}", status="failed"
    )
    webhook_events = AuditEvent.objects.filter(action__startswith="webhook.")
    events_before = webhook_events.count()
    client.force_login(request.getfixturevalue(role))
    data = {"url": "https://other.example.com/", "event_types": ["peering.failed"]}
    for method, url in management_requests(organization, endpoint, failed):
        response = getattr(client, method)(url, data) if method == "post" else client.get(url)
        assert response.status_code == expected, (method, url)
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.secret) == ("https://hooks.example.com/peering", secret)
    assert WebhookEndpoint.objects.count() == 1
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["failed"]
    assert webhook_events.count() == events_before


def test_owners_open_every_page(client, owner, organization):
    endpoint = make_endpoint(organization)
    client.force_login(owner)
    for method, url in management_requests(organization, endpoint):
        if method == "get":
            assert client.get(url).status_code == 200, url


def test_anonymous_visitors_are_sent_to_log_in(client, organization):
    endpoint = make_endpoint(organization)
    for method, url in [("get", list_url()), *management_requests(organization, endpoint)]:
        response = getattr(client, method)(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewers_and_members_read_the_list_without_management_links(
    client, request, organization, role
):
    endpoint = make_endpoint(organization, description="Chat alerts")
    client.force_login(request.getfixturevalue(role))
    page = client.get(list_url()).content.decode()
    # The host, never the path (a token, in many services' webhook URLs).
    assert "https://hooks.example.com/…" in page and "Chat alerts" in page
    assert "/peering" not in page
    assert url_of("detail", endpoint) not in page
    assert new_url(organization) not in page
    assert "Owners of Acme manage its webhooks." in page


def test_the_list_shows_owners_their_links_and_outsiders_nothing_of_others(
    client, owner, organization, outsider
):
    endpoint = make_endpoint(organization)
    client.force_login(owner)
    page = client.get(list_url()).content.decode()
    assert url_of("detail", endpoint) in page and new_url(organization) in page
    client.force_login(outsider)
    page = client.get(list_url()).content.decode()
    assert "hooks.example.com" not in page and "Acme" not in page
    assert "Other Corp" in page


def test_posts_without_a_csrf_token_are_refused(owner, organization, public_dns):
    endpoint = make_endpoint(organization)
    secret = endpoint.secret
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    data = {"url": "https://other.example.com/", "event_types": ["peering.failed"]}
    for method, url in management_requests(organization, endpoint):
        if method == "post":
            assert client.post(url, data).status_code == 403, url
            assert client.post(url, data, **HTMX).status_code == 403, url
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.secret) == ("https://hooks.example.com/peering", secret)
    assert WebhookEndpoint.objects.count() == 1
    assert not WebhookDelivery.objects.exists()


def test_the_wrong_method_gets_405(client, owner, organization):
    endpoint = make_endpoint(organization)
    client.force_login(owner)
    assert client.get(url_of("test", endpoint)).status_code == 405
    assert client.post(list_url()).status_code == 405
    assert client.post(url_of("detail", endpoint)).status_code == 405
    assert client.put(url_of("edit", endpoint)).status_code == 405
    assert client.delete(url_of("delete", endpoint)).status_code == 405


# --- 8. managing endpoints, audited ---


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


def test_creating_changing_rotating_and_deleting_are_audited(
    client, owner, organization, public_dns
):
    client.force_login(owner)
    client.post(
        new_url(organization),
        {
            "url": "https://hooks.example.com/peering",
            "event_types": ["peering.failed", "peering.running"],
            "enabled": "on",
        },
    )
    endpoint = WebhookEndpoint.objects.get()
    # Kept in the order of the list of events, whatever order the browser sent.
    assert endpoint.event_types == ["peering.running", "peering.failed"]
    created = AuditEvent.objects.get(action="webhook.created")
    assert (created.organization, created.actor, created.source) == (organization, owner, "web")
    hidden_url = redacted_url("https://hooks.example.com/peering")
    assert hidden_url.startswith("https://hooks.example.com/… (#")
    assert created.after == {
        "url": hidden_url,
        "description": "",
        "enabled": True,
        "event_types": ["peering.running", "peering.failed"],
    }

    response = client.post(
        url_of("edit", endpoint),
        {
            "url": "https://hooks.example.com/peering",
            "description": "Ops",
            "event_types": ["peering.running", "peering.failed"],  # enabled unticked
        },
    )
    assert response.status_code == 302
    changed = AuditEvent.objects.get(action="webhook.changed")
    assert changed.organization == organization
    assert changed.before == {"description": "", "enabled": True}
    assert changed.after == {"description": "Ops", "enabled": False}
    # Saving without a change records nothing.
    client.post(
        url_of("edit", endpoint),
        {
            "url": "https://hooks.example.com/peering",
            "description": "Ops",
            "event_types": ["peering.running", "peering.failed"],
        },
    )
    assert AuditEvent.objects.filter(action="webhook.changed").count() == 1

    client.post(url_of("rotate", endpoint), {"keep_previous": "none"})
    rotated = AuditEvent.objects.get(action="webhook.secret_rotated")
    assert (rotated.organization, rotated.before, rotated.after) == (
        organization,
        {},
        {"previous_signs_until": None},
    )

    client.post(url_of("test", endpoint))
    assert AuditEvent.objects.get(action="webhook.test_sent").organization == organization

    response = client.post(url_of("delete", endpoint))
    assert response.status_code == 302 and response["Location"] == list_url()
    assert not WebhookEndpoint.objects.exists()
    assert not WebhookDelivery.objects.exists()  # the history goes with the endpoint
    deleted = AuditEvent.objects.get(action="webhook.deleted")
    assert deleted.organization == organization
    assert deleted.before["url"] == hidden_url
    assert deleted.target_id == str(endpoint.pk)


def test_the_form_needs_an_event_and_knows_only_peering_events(
    client, owner, organization, public_dns
):
    client.force_login(owner)
    page = client.post(
        new_url(organization), {"url": "https://hooks.example.com/", "event_types": []}
    )
    assert "Choose at least one event." in page.content.decode()
    page = client.post(
        new_url(organization),
        {"url": "https://hooks.example.com/", "event_types": ["webhook.test"]},
    )
    assert page.status_code == 200 and 'id="errors-event_types"' in page.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_model_refuses_unknown_event_types():
    with pytest.raises(Exception, match="Unknown event type"):
        validators.validate_event_types(["peering.running", "peering.exploded"])
    validators.validate_event_types(["peering.running"])


def test_update_endpoint_refuses_to_touch_the_secret(organization):
    endpoint = make_endpoint(organization)
    with pytest.raises(TypeError, match="secret"):
        services.update_endpoint(endpoint, secret="whsec_chosen")


def test_the_send_test_event_button_queues_a_test_and_redraws_the_deliveries(
    client, owner, organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization)
    client.force_login(owner)
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(url_of("test", endpoint), **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page and 'id="deliveries"' in page
    assert "webhook.test" in page and 'hx-trigger="every 2s"' in page
    assert "HX-Request" in response["Vary"]
    assert len(queued) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.event_type, delivery.status) == (
        endpoint,
        "webhook.test",
        "pending",
    )
    response = client.post(url_of("test", endpoint))
    assert response.status_code == 302
    assert response["Location"] == url_of("detail", endpoint)


def test_the_detail_page_shows_every_attempt(
    receiver, local_network, client, owner, organization, django_capture_on_commit_callbacks
):
    receiver.answers = [(503, {}, b"maintenance window"), (200, {}, b"")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    client.force_login(owner)
    page = client.get(url_of("detail", endpoint)).content.decode()
    assert "HTTP 503" in page and "maintenance window" in page and "failed, will retry" in page
    assert "next attempt" in page
    assert 'hx-trigger="every 2s"' not in page  # the retry is minutes away: no polling
    next_scheduled(delivery)
    page = client.get(url_of("detail", endpoint)).content.decode()
    assert page.count('class="attempt"') == 2
    assert "HTTP 200" in page and " ms · succeeded" in page


def test_pages_run_a_fixed_number_of_queries(client, owner, organization):
    client.force_login(owner)

    def queries(url):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    endpoint = make_endpoint(organization)
    WebhookDelivery.objects.create(endpoint=endpoint, event_type="webhook.test", body="{}")
    list_few, detail_few = queries(list_url()), queries(url_of("detail", endpoint))
    for n in range(4):
        make_endpoint(organization, f"https://hooks{n}.example.com/")
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event_type="webhook.test", body="{}"
        )
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=1,
            started_at=delivery.created_at,
            duration_ms=5,
            status_code=500,
            outcome="failed",
        )
    assert queries(list_url()) == list_few
    assert queries(url_of("detail", endpoint)) == detail_few


def test_the_nav_links_to_webhooks(client, viewer):
    client.force_login(viewer)
    page = client.get(reverse("deployment-list")).content.decode()
    assert f'<a href="{list_url()}">Webhooks</a>' in page


# --- 9. settings ---


def load_settings(monkeypatch, **env):
    names = (
        "WEBHOOK_ALLOW_HTTP",
        "WEBHOOK_ALLOW_PRIVATE_ADDRESSES",
        "WEBHOOK_TIMEOUT",
        "WEBHOOK_MAX_ATTEMPTS",
        "DATABASE_URL",
        "REDIS_URL",
    )
    for name in names:
        monkeypatch.delenv(name, raising=False)
    for name, value in {"SECRET_KEY": "s3cret", "DEBUG": "false", **env}.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


def test_the_webhook_settings_default_to_closed(monkeypatch):
    loaded = load_settings(monkeypatch)
    assert loaded["WEBHOOK_ALLOW_HTTP"] is False
    assert loaded["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] is False
    assert (loaded["WEBHOOK_TIMEOUT"], loaded["WEBHOOK_MAX_ATTEMPTS"]) == (10, 12)
    opened = load_settings(
        monkeypatch,
        WEBHOOK_ALLOW_HTTP="yes",
        WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1",
        WEBHOOK_TIMEOUT="3",
        WEBHOOK_MAX_ATTEMPTS="2",
    )
    assert (
        opened["WEBHOOK_ALLOW_HTTP"],
        opened["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"],
        opened["WEBHOOK_TIMEOUT"],
        opened["WEBHOOK_MAX_ATTEMPTS"],
    ) == (True, True, 3, 2)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBHOOK_ALLOW_HTTP", "sometimes"),
        ("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "maybe"),
        ("WEBHOOK_TIMEOUT", "ten"),
        ("WEBHOOK_TIMEOUT", "0"),
        ("WEBHOOK_MAX_ATTEMPTS", "0"),
    ],
)
def test_a_bad_webhook_setting_stops_start_up_naming_it(monkeypatch, name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(monkeypatch, **{name: value})
