"""A burst of confirmed peerings spreads within the AWS budget: behind a proxy that
throttles EC2 as EC2 does (bench/throttleproxy.py, every action's bucket 5 tokens), 30
peerings confirmed at once all reach `running` through a real worker cluster, and AWS
never has to answer RequestLimitExceeded: the shared budget made everyone wait instead.
(`make bench` runs the same with 1,000 and AWS's own bucket sizes.)"""

import time

import pytest

from core import audit
from demo import sandbox
from demo.aws import SandboxEc2
from peerings import services
from peerings.models import PeeringConnection
from tests.support.aws import REGION, VENDOR
from tests.support.cluster import start_cluster, stop_cluster, use_private_queue
from tests.support.factories import make_deployment
from tests.support.throttling import throttling_aws

BUCKET, REFILL = 5, 10  # tokens, per second: far below what a burst of 30 asks at once
PEERINGS, PER_DEPLOYMENT = 30, 15  # 2 ports each: 30 rules per security group


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_confirmed_peerings_all_run_without_being_throttled(
    simulator, organization, owner, monkeypatch, settings, tmp_path
):
    requests = []
    for number in range(PEERINGS // PER_DEPLOYMENT):
        vpc_id, _tables, group_id = SandboxEc2(REGION, VENDOR).create_network(
            f"10.{20 + number}.0.0/16", f"orders-{number}"
        )
        deployment = make_deployment(
            organization,
            name=f"orders-{number}",
            vpc_id=vpc_id,
            cidr=f"10.{20 + number}.0.0/16",
            security_group_id=group_id,
        )
        requests += [
            (deployment, sandbox.create_customer_request(deployment, cidr=f"172.16.{n}.0/24"))
            for n in range(number * PER_DEPLOYMENT, (number + 1) * PER_DEPLOYMENT)
        ]
    use_private_queue(monkeypatch)
    log = open(tmp_path / "qcluster.log", "w+")  # noqa: SIM115
    with throttling_aws(simulator, monkeypatch, settings, BUCKET, REFILL) as proxy:
        process = start_cluster(log)
        try:
            actor = audit.actor_for_user(owner, "web", "127.0.0.1")
            with audit.acting_as(actor):
                for deployment, request in requests:  # as the dialog confirms them
                    verified = services.check_new_peering(
                        deployment,
                        peering_id=request.peering_id,
                        account_id=request.account_id,
                        vpc_id=request.vpc_id,
                    )
                    services.create_peering(deployment, verified=verified, user=owner)
            peerings = PeeringConnection.objects.filter(deployment__organization=organization)
            deadline = time.monotonic() + 120
            while peerings.filter(status__in=PeeringConnection.TRANSITIONAL).exists():
                assert process.poll() is None and time.monotonic() < deadline, _tail(log)
                time.sleep(0.5)
        finally:
            stop_cluster(process)
    statuses = list(peerings.values_list("status", flat=True))
    assert statuses == ["running"] * PEERINGS, _tail(log)
    assert sum(proxy.forwarded.values()) >= PEERINGS * 7  # the burst did reach AWS
    assert dict(proxy.throttled) == {}, _tail(log)


def _tail(log):
    log.seek(0)
    return log.read()[-3000:]
