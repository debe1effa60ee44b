"""Prometheus metrics at /metrics.

Counters and the histogram live in the processes that see the events (gunicorn workers,
django-q2 workers). Several processes on a host share them through prometheus_client's
multiprocess mode: with PROMETHEUS_MULTIPROC_DIR set (before start), each process writes its
values to files there and a scrape sums them, a dead process's counts included (see
gunicorn.conf.py for the clean-up). Every host running web or worker processes keeps its own
directory, and Prometheus sums over hosts. The gauges (peerings by status, queue depth and
age) are read from the database and the broker at scrape time, the same on every host."""

import hmac
import ipaddress
import logging
import os
from datetime import datetime

from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

AWS_CALLS = Counter(
    "peering_portal_aws_calls",
    "AWS API requests by operation and outcome; each retry botocore makes counts again.",
    ["operation", "outcome"],
)
PROVISIONING_SECONDS = Histogram(
    "peering_portal_provisioning_seconds",
    "Seconds from a peering's creation (the customer's Confirm) to running.",
    buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600),
)
WEBHOOK_ATTEMPTS = Counter(
    "peering_portal_webhook_attempts", "Webhook delivery attempts by outcome.", ["outcome"]
)
RECONCILE_FINDINGS = Counter(
    "peering_portal_reconcile_findings",
    "What the reconcile schedule found and did, by kind (peer_deleted, resynced: repaired, "
    "requeued: stuck, resync_failed: could not repair).",
    ["kind"],
)
LOGIN_LOCKOUTS = Counter("peering_portal_login_lockouts", "Login lockouts started.", ["scope"])


# --- AWS calls, counted with a botocore event hook on every client peerings/aws.py makes ---


def count_aws_calls(client):
    # `needs-retry` fires after every HTTP attempt, retried ones included, so throttles that
    # botocore retried away still show. unique_id: a cached client is watched once.
    client.meta.events.register(
        "needs-retry", _count_aws_attempt, unique_id="ops-metrics-aws-calls"
    )
    return client


def _count_aws_attempt(response=None, operation=None, caught_exception=None, **kwargs):
    try:
        AWS_CALLS.labels(
            operation=getattr(operation, "name", "unknown"),
            outcome=aws_outcome(response, caught_exception),
        ).inc()
    except Exception:  # a metric must never break an AWS call
        log.exception("could not count an AWS call")
    # None: this hook never asks botocore to retry (the retry handler decides).


def aws_outcome(response, caught_exception):
    from peerings.aws import THROTTLING_CODES  # not at the top: that module imports this one

    if caught_exception is not None or response is None:
        return "connection_error"
    http_response, parsed = response
    status = http_response.status_code
    code = (parsed or {}).get("Error", {}).get("Code", "")
    if status < 300:
        return "ok"
    if code in THROTTLING_CODES:
        return "throttled"
    if status >= 500:
        return "server_error"
    return "client_error"


def observe_provisioned(peering_pk, running_at):
    from peerings.models import PeeringConnection

    created_at = (
        PeeringConnection.objects.filter(pk=peering_pk).values_list("created_at", flat=True).first()
    )
    if created_at is not None:
        PROVISIONING_SECONDS.observe(max(0.0, (running_at - created_at).total_seconds()))


# --- read at scrape time ---


class DatabaseCollector:
    """Gauges read from the database and the broker when Prometheus scrapes."""

    def collect(self):
        from django_q.brokers import get_broker
        from django_q.conf import Conf

        from peerings.models import PeeringConnection

        peerings = GaugeMetricFamily(
            "peering_portal_peerings", "Peerings by status.", labels=["status"]
        )
        counts = dict(
            PeeringConnection.objects.values_list("status").annotate(n=Count("id")).order_by()
        )
        for status in PeeringConnection.Status.values:
            peerings.add_metric([status], counts.get(status, 0))
        yield peerings

        depth = GaugeMetricFamily(
            "peering_portal_queue_depth", "Tasks waiting in the queue.", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "peering_portal_queue_oldest_task_age_seconds",
            "Age of the oldest task waiting in the queue (0 when empty).",
            labels=["queue"],
        )
        queues = [Conf.CLUSTER_NAME, *settings.Q_CLUSTER.get("ALT_CLUSTERS", {})]
        for queue in dict.fromkeys(queues):
            broker = get_broker(queue)
            depth.add_metric([queue], broker.queue_size())
            enqueued = oldest_enqueued_at(broker)
            age.add_metric(
                [queue], (timezone.now() - enqueued).total_seconds() if enqueued else 0.0
            )
        yield depth
        yield age


def oldest_enqueued_at(broker) -> datetime | None:
    """When the oldest waiting task was queued (django-q2 stamps `started` on enqueue)."""
    from django_q.brokers.orm import ORM
    from django_q.brokers.redis_broker import Redis
    from django_q.signing import SignedPackage

    if isinstance(broker, ORM):
        payload = (
            broker.get_connection()
            .filter(key=broker.list_key, lock__lte=timezone.now())
            .order_by("id")
            .values_list("payload", flat=True)
            .first()
        )
    elif isinstance(broker, Redis):
        payload = broker.connection.lindex(broker.list_key, 0)  # pushed right, popped left
    else:
        return None
    if payload is None:
        return None
    try:
        return SignedPackage.loads(payload)["started"]
    except Exception:  # a task signed with another key, or not ours: no age to tell
        log.warning("could not read the oldest task of queue %s", broker.list_key)
        return None


def render():
    """The scrape's body and content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    scraped = CollectorRegistry()
    scraped.register(DatabaseCollector())
    return generate_latest(processes) + generate_latest(scraped), CONTENT_TYPE_LATEST


def allowed(request):
    """A scrape is allowed with the bearer token (METRICS_TOKEN) or from an allowed network
    (METRICS_ALLOWED_NETWORKS; the connection's own address, never X-Forwarded-For). With
    neither set, metrics are off."""
    token = settings.METRICS_TOKEN
    given = request.META.get("HTTP_AUTHORIZATION", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        remote = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(remote in network for network in settings.METRICS_ALLOWED_NETWORKS)
