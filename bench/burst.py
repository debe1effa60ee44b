"""A burst within the AWS budget: peerings confirmed at once (as the dialog confirms them,
through `services.check_new_peering` and `services.create_peering`) and taken to `running`
by a real 2-worker cluster, with EC2 behind bench/throttleproxy.py, which throttles as EC2
does with AWS's documented bucket sizes (the same the portal's budget defaults to:
`ratebudget.bucket_size`). Measured: all running, RequestLimitExceeded answers, and the
time from the first confirm to the last `running` against the budget's own minimum, the
least time the busiest bucket needs for the calls made through it."""

import os
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Max
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule

from bench.provisioning import (
    PEERINGS_PER_DEPLOYMENT,
    _aws_deployments,
    _customer_requests,
    moto_server,
    worker_cluster,
)
from bench.throttleproxy import ThrottleProxy
from core import audit
from core.models import AuditEvent
from peerings import aws, ratebudget, services
from peerings.models import PeeringConnection


@dataclass
class BurstResult:
    peerings: int
    seconds: float = 0.0
    confirm_seconds: float = 0.0
    statuses: dict = field(default_factory=dict)
    forwarded: dict = field(default_factory=dict)
    throttled: dict = field(default_factory=dict)
    # Counted by the portal itself (ratebudget.throttle_counts), summed over actions.
    counted_by_portal: int = 0

    def minimum(self):
        """(seconds, action): the least time AWS's buckets allow for the calls made, set by
        the busiest bucket (each starts full: its capacity is free, the rest at its rate)."""
        best = (0.0, "")
        for action, calls in self.forwarded.items():
            capacity, rate = ratebudget.bucket_size(action)
            best = max(best, (max(0.0, (calls - capacity) / rate), action))
        return best


def run(world, out, *, peerings, progress):
    result = BurstResult(peerings=peerings)
    calls_dir = out / "calls-burst"
    calls_dir.mkdir(parents=True, exist_ok=True)
    Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))
    get_broker().purge_queue()
    closed_endpoint = os.environ["AWS_ENDPOINT_URL"]
    with moto_server(out) as (url, _moto):
        os.environ["AWS_ENDPOINT_URL"] = url
        aws._home_client.cache_clear()
        progress(f"burst: {peerings} customer requests in moto")
        deployments = _aws_deployments(
            world.organization, "burst", -(-peerings // PEERINGS_PER_DEPLOYMENT), 100
        )
        requests = _customer_requests(deployments, peerings)
        with ThrottleProxy(url, ratebudget.bucket_size) as proxy:
            # The portal (this process's dialog, and the cluster) reaches EC2 through it.
            os.environ["AWS_ENDPOINT_URL"] = proxy.url
            aws._home_client.cache_clear()
            before = sum(ratebudget.throttle_counts().values())
            with worker_cluster(out, calls_dir):
                progress(f"burst: {peerings} confirmed at once, behind the throttling proxy")
                _confirm_and_wait(result, requests, world.owner)
            result.forwarded, result.throttled = dict(proxy.forwarded), dict(proxy.throttled)
            result.counted_by_portal = sum(ratebudget.throttle_counts().values()) - before
    os.environ["AWS_ENDPOINT_URL"] = closed_endpoint
    aws._home_client.cache_clear()
    return result


def _confirm_and_wait(result, requests, owner):
    actor = audit.actor_for_user(owner, AuditEvent.Source.WEB, "127.0.0.1")
    started = timezone.now()
    with audit.acting_as(actor):
        for request in requests:
            verified = services.check_new_peering(
                request.deployment,
                peering_id=request.peering_id,
                account_id=request.account_id,
                vpc_id=request.vpc_id,
            )
            services.create_peering(request.deployment, verified=verified, user=owner)
    result.confirm_seconds = (timezone.now() - started).total_seconds()
    rows = PeeringConnection.objects.filter(deployment__in={r.deployment.pk for r in requests})
    # Far more than the budget needs (about 0.4 s a peering with AWS's sizes): a stuck run
    # ends with what it reached.
    deadline = time.monotonic() + 600 + result.peerings
    while rows.filter(status__in=PeeringConnection.TRANSITIONAL).exists():
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for status in rows.values_list("status", flat=True):
        result.statuses[status] = result.statuses.get(status, 0) + 1
    last = rows.aggregate(last=Max("status_changed_at"))["last"] or timezone.now()
    result.seconds = (last - started).total_seconds()
