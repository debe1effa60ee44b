"""A webhook receiver cannot hold up the portal: each attempt has a wall-clock deadline
(WEBHOOK_DEADLINE) however slowly the receiver drips its answer, and deliveries go to a
django-q2 cluster of their own, never to the workers doing AWS work."""

import functools
import time

import httpx
import pytest
from django_q.brokers import get_broker
from django_q.models import Schedule

from tests.support.cluster import start_cluster, stop_cluster, use_private_queue
from tests.support.webhooks import dripping_server, fake_dns, make_endpoint, send_test
from webhooks import client, queue, services

pytestmark = pytest.mark.django_db


def test_a_dripping_receiver_is_cut_at_the_deadline(settings, local_network):
    # Every byte comes well inside the per-read timeout: only the deadline can stop it.
    settings.WEBHOOK_TIMEOUT = 5
    settings.WEBHOOK_DEADLINE = 1
    with dripping_server() as receiver:
        result = client.post_event(receiver.url, "{}", secrets=["s"], event_id="e")
        assert receiver.cut.wait(10)
    assert result.status_code is None
    assert result.retryable
    assert result.error.code == "webhook_cut_off"
    assert str(result.error).startswith("No complete answer within 1 s (WEBHOOK_DEADLINE)")
    assert 0 < receiver.sent < len(receiver.answer)


def test_connecting_to_several_silent_addresses_shares_the_deadline(settings, monkeypatch):
    """The deadline's cut only reaches connected sockets: connecting must share it too.
    Four addresses that each fail only when their connect timeout runs out: the first
    two get the whole WEBHOOK_TIMEOUT, the third what is left, the fourth is not tried."""
    settings.WEBHOOK_TIMEOUT, settings.WEBHOOK_DEADLINE = 10, 25
    addresses = ["93.184.215.14", "93.184.215.15", "93.184.215.16", "93.184.215.17"]
    fake_dns(monkeypatch, {"hooks.example.com": addresses})
    now = [1000.0]  # the clock the deadline reads; only the fake connections move it
    monkeypatch.setattr(
        client, "Deadline", functools.partial(client.Deadline, clock=lambda: now[0])
    )
    tried = []

    def unreachable(transport, request):
        timeout = request.extensions["timeout"]["connect"]
        tried.append((request.url.host, timeout))
        now[0] += timeout
        raise httpx.ConnectError("No route to host", request=request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", unreachable)
    result = client.post_event("https://hooks.example.com/h", "{}", secrets=["s"], event_id="e")
    assert tried == [(addresses[0], 10), (addresses[1], 10), (addresses[2], 5)]
    assert result.retryable
    assert result.error.code == "webhook_cut_off"
    assert str(result.error).startswith("No complete answer within 25 s (WEBHOOK_DEADLINE)")


def test_the_cut_attempt_is_recorded_as_timed_out_and_retried(
    settings, local_network, organization, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_TIMEOUT = 5
    settings.WEBHOOK_DEADLINE = 1
    with dripping_server() as receiver:
        endpoint = make_endpoint(organization, receiver.url)
        delivery = send_test(endpoint, django_capture_on_commit_callbacks)
        assert receiver.cut.wait(10)
    attempt = delivery.attempts.get()
    assert (attempt.outcome, attempt.status_code) == ("retrying", None)
    assert "No complete answer within 1 s" in attempt.error
    assert delivery.status == "pending"


def test_deliveries_go_to_the_webhook_clusters_queue_not_the_aws_one(
    monkeypatch, local_network, organization, django_capture_on_commit_callbacks
):
    use_private_queue(monkeypatch)  # queued for real, into this test process's own queues
    webhooks, aws_work = get_broker(queue.cluster()), get_broker()
    webhooks.purge_queue()
    endpoint = make_endpoint(organization, "http://127.0.0.1:9/hooks")
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.send_test_event(endpoint)
    assert (webhooks.queue_size(), aws_work.queue_size()) == (1, 0)
    assert queue.cluster().endswith("-webhooks")
    webhooks.purge_queue()

    queue.schedule_delivery(delivery.pk, 2, delivery.created_at)
    # Only the webhook cluster's scheduler runs it, onto its own queue.
    assert Schedule.objects.get(func=queue.DELIVER).cluster == queue.cluster()


@pytest.mark.django_db(transaction=True)
def test_the_webhook_cluster_delivers_what_is_queued_for_it(
    monkeypatch, settings, receiver, organization, tmp_path
):
    # The worker process reads its settings from the environment, not from this test's.
    monkeypatch.setenv("WEBHOOK_ALLOW_HTTP", "true")
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "true")
    settings.WEBHOOK_ALLOW_HTTP = settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    use_private_queue(monkeypatch)
    get_broker(queue.cluster()).purge_queue()
    endpoint = make_endpoint(organization, receiver.url)
    delivery = services.send_test_event(endpoint)
    with open(tmp_path / "qcluster.log", "w+") as log:
        process = start_cluster(log, webhooks=True)
        try:
            deadline = time.monotonic() + 60
            while not receiver.received and time.monotonic() < deadline:
                assert process.poll() is None, log.read()
                time.sleep(0.3)
        finally:
            stop_cluster(process)
        log.seek(0)
        assert len(receiver.received) == 1, log.read()[-3000:]
    assert receiver.received[0].headers["webhook-id"] == str(delivery.event_id)
