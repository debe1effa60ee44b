"""A real django-q2 cluster for the tests that need one: `manage.py qcluster` on this test
process's own queue and test database, stopped with its workers; and the clean-up of
clusters that a killed test run left behind."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule

from peerings.models import PeeringConnection
from tests.support.env import ROOT

# Each test process (xdist worker) has its own queue: with one Redis for all of them, a
# cluster started by one must never take a task queued by another, for another database.
QUEUE = f"peering_portal_test_{uuid.uuid4().hex[:12]}"


def use_private_queue(monkeypatch):
    """Queue for real (not inline) into this process's own, empty queue. The standing
    schedules (reconcile, webhook recovery) are due at once after a migrate or flush: put
    them off, so the cluster under test does only the test's work."""
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "CLUSTER_NAME", QUEUE)
    monkeypatch.setattr(Conf, "PREFIX", QUEUE)
    get_broker().purge_queue()
    Schedule.objects.filter(repeats=-1, schedule_type=Schedule.MINUTES).update(
        next_run=timezone.now() + timedelta(days=1)
    )


def worker_env(webhooks=False):
    """The worker must use the test database and the queue this process uses (its webhook
    cluster's with `webhooks`)."""
    name = QUEUE + settings.WEBHOOK_CLUSTER_SUFFIX if webhooks else QUEUE
    env = {**os.environ, "Q_WORKERS": "1", "PYTHONUNBUFFERED": "1", "Q_CLUSTER_NAME": name}
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


# Each running test cluster leaves a file here (named by its process group, holding the
# pid of the pytest process that started it) until it is stopped.
STARTED_CLUSTERS = ROOT / ".test-clusters"


def start_cluster(log, webhooks=False):
    """A real `manage.py qcluster` on this process's queue and database (the webhook
    cluster with `webhooks`), in a session of its own, so that stopping it stops its
    workers too."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=worker_env(webhooks),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    STARTED_CLUSTERS.mkdir(exist_ok=True)
    # Written whole or not at all: a half-written record must never read as a dead run's.
    draft = STARTED_CLUSTERS / f".{process.pid}.tmp"
    draft.write_text(str(os.getpid()))
    os.replace(draft, STARTED_CLUSTERS / str(process.pid))
    return process


def stop_cluster(process):
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
    # The cluster's own worker processes must not outlive the test (nor hold the database).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    (STARTED_CLUSTERS / str(process.pid)).unlink(missing_ok=True)


def kill_clusters_left_by_dead_runs():
    """A test run killed outright (a CI timeout, a second Ctrl-C) never stops its clusters;
    they would hold their test database open, and the next run could not re-create it.
    Only processes of the recorded group that are still a qcluster are killed."""
    for record in STARTED_CLUSTERS.glob("[0-9]*"):
        try:
            owner = int(record.read_text())
        except (OSError, ValueError):
            continue  # stopped meanwhile, or not ours to judge
        if Path(f"/proc/{owner}").exists():
            continue  # its run is still going
        group = int(record.name)
        for pid in _qcluster_processes_in_group(group):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        record.unlink(missing_ok=True)


def _qcluster_processes_in_group(group):
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            # The group is field 5 of stat; the name in field 2 may hold spaces, so split
            # after its closing parenthesis.
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[2]) == group and b"qcluster" in command:
            yield int(proc.name)


def wait_until_settled(peering, process, log, seconds=60):
    """Until the real cluster has taken the peering out of its transitional states (or has
    died); the cluster's log is in the failure message."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        peering.refresh_from_db()
        if peering.status not in PeeringConnection.TRANSITIONAL:
            break
        time.sleep(0.5)
    log.seek(0)
    assert peering.status == "running", log.read()[-3000:]
