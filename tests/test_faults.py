"""Faults injected into provisioning: a worker SIGKILLed mid-task, the database failing for
a moment, AWS timing out, throttling and failing. Each converges to the right state, never
to a duplicated route or rule, nor to a false running."""

import ast
import os
import signal
import threading
import time

import pytest
from botocore.exceptions import ReadTimeoutError
from django.db import OperationalError
from django_q.models import Schedule

from peerings import aws, queue, services, tasks
from peerings.models import PeeringConnection
from tests.support.aws import routes_to, rules_for, vendor_ec2
from tests.support.cluster import start_cluster, stop_cluster, use_private_queue
from tests.support.factories import confirmed


def routes_per_table(deployment, peering):
    return [len(destinations) for destinations in routes_to(deployment, peering).values()]


def assert_converged(deployment, peering, tables):
    peering.refresh_from_db()
    assert peering.status == "running"
    assert routes_per_table(deployment, peering) == [1] * tables
    (cidr,) = peering.customer_cidrs
    assert rules_for(deployment, cidr) == [1883, 8883]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_provisioning_is_finished_by_a_second_worker(
    aws_deployment, monkeypatch, tmp_path
):
    ec2 = vendor_ec2()
    for _ in range(8):
        ec2.ec2.create_route_table(VpcId=aws_deployment.vpc_id)
    tables = len(ec2.route_tables(aws_deployment.vpc_id))
    # The simulated AWS runs in this process: hold the worker's third CreateRoute until the
    # worker is killed, so the kill always lands mid-provisioning, however loaded the box.
    from moto.ec2.models.route_tables import RouteBackend

    real_create_route = RouteBackend.create_route
    routes_made, worker_killed = [], threading.Event()

    def create_route_then_hang(self, *args, **kwargs):
        if len(routes_made) >= 2:
            worker_killed.wait(60)
        routes_made.append(args)
        return real_create_route(self, *args, **kwargs)

    use_private_queue(monkeypatch)
    log = open(tmp_path / "workers.log", "w+")  # noqa: SIM115
    first = start_cluster(log)
    second = None
    try:
        peering = confirmed(aws_deployment)  # (the customer's side makes routes too)
        monkeypatch.setattr(RouteBackend, "create_route", create_route_then_hang)
        queue.enqueue_provision(peering)  # autocommit: queued at once
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(routes_made) < 2:
            time.sleep(0.02)
        assert len(routes_made) == 2, "the worker never reached its routes"
        time.sleep(0.2)  # let it reach the third CreateRoute, held in the simulator
        os.killpg(first.pid, signal.SIGKILL)  # mid-task, no goodbye
        monkeypatch.setattr(RouteBackend, "create_route", real_create_route)
        worker_killed.set()
        first.wait()
        peering.refresh_from_db()
        log.seek(0)
        assert peering.status == "provisioning", log.read()[-2000:]
        assert sum(routes_per_table(aws_deployment, peering)) < tables  # really half done

        # Reconcile finds it stuck and queues it again; a second worker finishes it.
        assert services.reconcile(stuck_after=0).requeued == 1
        second = start_cluster(log)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            peering.refresh_from_db()
            if peering.status != "provisioning":
                break
            time.sleep(0.3)
        log.seek(0)
        assert peering.status == "running", log.read()[-3000:]
        assert_converged(aws_deployment, peering, tables)
    finally:
        stop_cluster(first)
        if second:
            stop_cluster(second)
        log.close()


@pytest.mark.django_db
def test_the_database_failing_mid_task_leaves_a_state_reconcile_finishes(
    aws_deployment, monkeypatch, django_capture_on_commit_callbacks
):
    peering = confirmed(aws_deployment)
    real_move = PeeringConnection.move

    def database_gone(self, to, **kwargs):
        if to == "running":
            raise OperationalError("server closed the connection unexpectedly")
        return real_move(self, to, **kwargs)

    monkeypatch.setattr(PeeringConnection, "move", database_gone)
    with pytest.raises(OperationalError):
        services.provision(peering.pk)
    peering.refresh_from_db()
    assert peering.status == "provisioning"  # never a false running
    monkeypatch.setattr(PeeringConnection, "move", real_move)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reconcile(stuck_after=0).requeued == 1
    assert_converged(aws_deployment, peering, 2)


def _fail_calls(monkeypatch, operation, error, times):
    """Make the first `times` calls of one EC2 operation fail as AWS or the network would."""
    calls = {"n": 0}
    real = aws.Ec2.__init__

    def init(self, region, account_id, ec2_client=None):
        real(self, region, account_id, ec2_client)
        client = self.ec2

        def before_call(**kwargs):
            if calls["n"] < times:
                calls["n"] += 1
                raise error()

        client.meta.events.register(
            f"before-call.ec2.{operation}", before_call, unique_id=f"fault-{operation}"
        )

    monkeypatch.setattr(aws.Ec2, "__init__", init)
    return calls


def _timeout():
    return ReadTimeoutError(endpoint_url="https://ec2.us-east-1.amazonaws.com")


def _throttled():
    from botocore.exceptions import ClientError

    return ClientError(
        {
            "Error": {"Code": "RequestLimitExceeded", "Message": "slow down"},
            "ResponseMetadata": {"HTTPStatusCode": 503},
        },
        "CreateRoute",
    )


def _server_error():
    from botocore.exceptions import ClientError

    return ClientError(
        {
            "Error": {"Code": "InternalError", "Message": "oops"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        },
        "CreateRoute",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fault", [_timeout, _throttled, _server_error], ids=["timeout", "throttling", "5xx"]
)
def test_aws_faults_during_routing_are_retried_later_and_converge(
    aws_deployment, monkeypatch, settings, fault, django_capture_on_commit_callbacks
):
    settings.AWS_MAX_ATTEMPTS = 1
    aws._home_client.cache_clear()
    peering = confirmed(aws_deployment)
    calls = _fail_calls(monkeypatch, "CreateRoute", fault, times=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.provision(peering.pk) == "provisioning"
    assert calls["n"] == 1
    schedule = Schedule.objects.get(func="peerings.tasks.provision_peering")
    assert schedule.next_run > peering.created_at
    # The scheduler's later run: same arguments, now AWS answers.
    pk, actor, rounds = ast.literal_eval(schedule.args)
    assert rounds == 1
    assert tasks.provision_peering(pk, actor, rounds) == "running"
    assert_converged(aws_deployment, peering, 2)
    aws._home_client.cache_clear()
