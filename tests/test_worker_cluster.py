"""A real django-q2 cluster process, a real broker (the ORM, or Redis when REDIS_URL is set)
and the moto server as AWS: the confirmed peering reaches running with nobody running
the task inline."""

import os
import signal
import subprocess
import time

import pytest

from peerings import services
from tests.support.cluster import (
    STARTED_CLUSTERS,
    kill_clusters_left_by_dead_runs,
    wait_until_settled,
)
from tests.support.factories import verified_request


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_cluster_takes_a_confirmed_peering_to_running(aws_deployment, owner, cluster):
    process, log = cluster
    verified = verified_request(aws_deployment)
    peering = services.create_peering(aws_deployment, verified=verified, user=owner)

    wait_until_settled(peering, process, log)
    assert peering.status_reason == ""


def test_a_cluster_left_by_a_dead_run_is_killed_and_nothing_else():
    def spawn(name):
        # `exec -a` names the process as a qcluster would be named in its command line.
        return subprocess.Popen(["bash", "-c", f"exec -a {name} sleep 60"], start_new_session=True)

    dead_run = subprocess.Popen(["true"])
    dead_run.wait()
    orphan, stranger, ours = spawn("qcluster"), spawn("not-a-cluster"), spawn("qcluster")
    try:
        STARTED_CLUSTERS.mkdir(exist_ok=True)
        (STARTED_CLUSTERS / str(orphan.pid)).write_text(str(dead_run.pid))
        (STARTED_CLUSTERS / str(stranger.pid)).write_text(str(dead_run.pid))
        (STARTED_CLUSTERS / str(ours.pid)).write_text(str(os.getpid()))  # a live run's
        time.sleep(0.2)  # let bash exec into its new name

        kill_clusters_left_by_dead_runs()

        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert stranger.poll() is None and ours.poll() is None
        assert not (STARTED_CLUSTERS / str(orphan.pid)).exists()
        assert (STARTED_CLUSTERS / str(ours.pid)).exists()
    finally:
        for process in (orphan, stranger, ours):
            process.kill()
            process.wait()
            (STARTED_CLUSTERS / str(process.pid)).unlink(missing_ok=True)
