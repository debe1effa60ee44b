"""Prometheus metrics at /metrics: behind a token or an allowed network; what they count,
and counts summed over several processes (prometheus_client's multiprocess mode)."""

import os
import subprocess
import sys

import pytest
from django.urls import reverse
from django_q.tasks import async_task
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from core import audit
from peerings import aws
from tests.support.cluster import QUEUE, use_private_queue
from tests.support.env import ROOT
from tests.support.factories import make_peering
from tests.support.webhooks import http_server, make_endpoint

TOKEN = "scrape-token-for-tests"


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def scrape():
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples
        }

    return scrape


def total(name, **labels):
    """The sum of a metric's samples in this process whose labels include `labels`."""
    return sum(
        sample.value
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


@pytest.mark.django_db
def test_metrics_are_off_without_a_token_or_an_allowed_network(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.django_db
def test_metrics_want_the_exact_bearer_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


@pytest.mark.django_db
def test_metrics_answer_an_allowed_network_by_its_own_address_only(client, settings):
    import ipaddress

    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    # A forwarded address is not the connection's: it proves nothing.
    forwarded = client.get("/metrics", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert forwarded.status_code == 404


@pytest.mark.django_db
def test_peerings_are_counted_by_status_at_scrape(scrape, deployment):
    make_peering(deployment, status="running", n=1)
    make_peering(deployment, status="running", n=2)
    make_peering(deployment, status="failed", n=3)
    metrics = scrape()
    assert metrics[("peering_portal_peerings", (("status", "running"),))] == 2
    assert metrics[("peering_portal_peerings", (("status", "failed"),))] == 1
    assert metrics[("peering_portal_peerings", (("status", "pending"),))] == 0


@pytest.mark.django_db
def test_queue_depth_and_the_oldest_tasks_age_come_from_the_broker(scrape, monkeypatch):
    use_private_queue(monkeypatch)
    depth = ("peering_portal_queue_depth", (("queue", QUEUE),))
    age = ("peering_portal_queue_oldest_task_age_seconds", (("queue", QUEUE),))
    metrics = scrape()
    assert (metrics[depth], metrics[age]) == (0, 0)
    async_task("ops.tasks.heartbeat")
    async_task("ops.tasks.heartbeat")
    metrics = scrape()
    assert metrics[depth] == 2
    assert 0 < metrics[age] < 60


def test_aws_calls_are_counted_by_operation_and_outcome_throttles_included(
    transactional_db,  # every EC2 request takes a token from the budget kept in the database
    monkeypatch,
    settings,
):
    settings.AWS_MAX_ATTEMPTS = 2
    throttled = (
        400,
        {},
        b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit "
        b"exceeded.</Message></Error></Errors><RequestID>r1</RequestID></Response>",
    )
    answered = (
        200,
        {},
        b'<DescribeVpcPeeringConnectionsResponse xmlns="http://ec2.amazonaws.com/doc/'
        b'2016-11-15/"><requestId>r2</requestId><vpcPeeringConnectionSet/>'
        b"</DescribeVpcPeeringConnectionsResponse>",
    )
    operation = "DescribeVpcPeeringConnections"
    before = {
        outcome: total("peering_portal_aws_calls_total", operation=operation, outcome=outcome)
        for outcome in ("ok", "throttled")
    }
    with http_server() as ec2:
        ec2.answers[:] = [throttled, answered]
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{ec2.port}")
        aws._home_client.cache_clear()
        try:
            assert (
                aws.Ec2("us-east-1", settings.VENDOR_HOME_ACCOUNT_ID).describe_peering(
                    "pcx-0123456789abcdef0"
                )
                is None
            )
        finally:
            aws._home_client.cache_clear()
    assert len(ec2.received) == 2
    assert (
        total("peering_portal_aws_calls_total", operation=operation, outcome="throttled")
        - before["throttled"]
    ) == 1
    assert (
        total("peering_portal_aws_calls_total", operation=operation, outcome="ok") - before["ok"]
    ) == 1


@pytest.mark.django_db
def test_provisioning_time_is_observed_when_a_peering_reaches_running(deployment):
    peering = make_peering(deployment, status="running")
    before = total("peering_portal_provisioning_seconds_count")
    audit.record("peering.running", target=peering)
    assert total("peering_portal_provisioning_seconds_count") - before == 1


@pytest.mark.django_db
def test_reconcile_findings_are_counted_by_kind_only_when_reconcile_found_them(deployment, owner):
    peering = make_peering(deployment, status="peer_deleted")
    before = total("peering_portal_reconcile_findings_total", kind="peer_deleted")
    audit.record("peering.peer_deleted", target=peering, actor=audit.SYSTEM)
    # The same action by a person (support's re-sync) is not reconcile's finding.
    person = audit.actor_for_user(owner, "admin")
    audit.record("peering.peer_deleted", target=peering, actor=person)
    assert total("peering_portal_reconcile_findings_total", kind="peer_deleted") - before == 1


@pytest.mark.django_db
def test_login_lockouts_are_counted(client, owner, settings):
    settings.LOGIN_MAX_FAILURES = 2
    before = total("peering_portal_login_lockouts_total")
    for _ in range(2):
        client.post(
            reverse("login"),
            {"username": "olivia", "password": "wrong"},
            REMOTE_ADDR="192.0.2.201",
        )
    assert total("peering_portal_login_lockouts_total") - before == 1


@pytest.mark.django_db
def test_webhook_attempts_are_counted_by_outcome(organization):
    from django.utils import timezone

    endpoint = make_endpoint(organization)
    delivery = endpoint.deliveries.create(event_type="webhook.test", body="{}")
    before = total("peering_portal_webhook_attempts_total", outcome="succeeded")
    delivery.attempts.create(
        number=1, started_at=timezone.now(), duration_ms=5, status_code=200, outcome="succeeded"
    )
    assert total("peering_portal_webhook_attempts_total", outcome="succeeded") - before == 1


COUNT_ONE_CALL = (
    "from ops import metrics; "
    "metrics.AWS_CALLS.labels(operation='AcceptVpcPeeringConnection', outcome='ok').inc()"
)


def test_counts_from_several_processes_are_summed_in_one_scrape(tmp_path):
    """Each gunicorn or django-q2 worker counts in its own file under
    PROMETHEUS_MULTIPROC_DIR; a scrape sums them all, those of ended processes included."""
    from prometheus_client import CollectorRegistry, multiprocess

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", COUNT_ONE_CALL], cwd=ROOT, env=env, check=True)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
    assert (
        registry.get_sample_value(
            "peering_portal_aws_calls_total",
            {"operation": "AcceptVpcPeeringConnection", "outcome": "ok"},
        )
        == 2
    )
