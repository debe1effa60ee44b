"""A real django-q2 cluster process, a real broker (the ORM, or Redis when REDIS_URL is set)
and the moto server as AWS: the confirmed peering reaches running with nobody running
the task inline."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django_q.brokers import get_broker
from django_q.conf import Conf

from peerings import demo, services
from peerings.models import PeeringConnection

ROOT = Path(__file__).resolve().parent.parent
# Each test process (xdist worker) has its own queue: with one Redis for all of them, a
# cluster started by one must never take a task queued by another, for another database.
QUEUE = f"peering_portal_test_{uuid.uuid4().hex[:12]}"


def use_private_queue(monkeypatch):
    """Queue for real (not inline) into this process's own, empty queue."""
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "CLUSTER_NAME", QUEUE)
    monkeypatch.setattr(Conf, "PREFIX", QUEUE)
    get_broker().purge_queue()


def worker_env():
    """The worker must use the test database and the queue this process uses."""
    env = {**os.environ, "Q_WORKERS": "1", "PYTHONUNBUFFERED": "1", "Q_CLUSTER_NAME": QUEUE}
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        )
    else:
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = db["NAME"]
    return env


@pytest.fixture
def cluster(monkeypatch, tmp_path):
    use_private_queue(monkeypatch)
    log = open(tmp_path / "qcluster.log", "w+")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=worker_env(),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    yield process, log
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    # The cluster's own worker processes must not outlive the test (nor hold the database).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    log.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_cluster_takes_a_confirmed_peering_to_running(aws_deployment, owner,
                                                                     cluster):
    process, log = cluster
    request = demo.create_customer_request(aws_deployment, cidr="172.16.8.0/24")
    new = services.NewPeering(request.peering_id, request.account_id, request.vpc_id,
                              [request.cidr])
    peering = services.create_peering(aws_deployment, new, owner)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        peering.refresh_from_db()
        if peering.status not in PeeringConnection.TRANSITIONAL:
            break
        time.sleep(0.5)
    log.seek(0)
    assert peering.status == "running", log.read()[-3000:]
    assert peering.status_reason == ""
