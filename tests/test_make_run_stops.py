"""`make run`'s Ctrl-C stops the simulator, the web server and the worker cluster, with
every process they started, within seconds, even while a worker runs a task."""

import os
import re
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.support.env import ROOT
from tests.support.processes import free_port, marked_processes, wait_for_port

pytestmark = pytest.mark.slow

ENQUEUE = (
    "import django, sys; django.setup(); from django_q.tasks import async_task; "
    "async_task('tests.support.processes.note_then_sleep', sys.argv[1], 120)"
)


@pytest.fixture
def devstack(tmp_path):
    mark = f"PP_TEST_MARK={uuid.uuid4().hex}"
    web_port, aws_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        # `make run` is SQLite and the ORM broker; CI's PostgreSQL run sets these.
        if key not in ("DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")
    }
    env.update(
        {
            "WEB_PORT": str(web_port),
            "AWS_PORT": str(aws_port),
            "SQLITE_PATH": str(tmp_path / "devstack.sqlite3"),
            "Q_CLUSTER_NAME": f"devstack_test_{uuid.uuid4().hex[:8]}",
            mark.split("=")[0]: mark.split("=")[1],
        }
    )
    log_path = tmp_path / "devstack.log"
    with log_path.open("w") as log:
        # A session of its own, like a terminal's foreground job: Ctrl-C goes to its group.
        process = subprocess.Popen(
            [sys.executable, "scripts/devstack.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(web_port, process, 180, log_path)
        yield process, env, mark, f"http://127.0.0.1:{web_port}", log_path
    finally:
        for pid, _command in marked_processes(mark):
            os.kill(pid, signal.SIGKILL)
        process.wait()


def test_ctrl_c_stops_every_process_within_seconds_while_a_task_runs(devstack, tmp_path):
    process, env, mark, url, log_path = devstack
    # The pages link the collected, hashed stylesheet, and it is served.
    page = httpx.get(f"{url}/login/", timeout=10)
    stylesheet = re.search(r'href="(/static/portal\.[0-9a-f]{12}\.css)"', page.text)
    assert stylesheet, page.text[:2000]
    assert httpx.get(url + stylesheet.group(1), timeout=10).status_code == 200

    started = tmp_path / "task-started"
    subprocess.run(
        [sys.executable, "-c", ENQUEUE, str(started)],
        cwd=ROOT,
        env={**env, "DEMO_MODE": "1", "DJANGO_SETTINGS_MODULE": "peering_portal.settings"},
        check=True,
    )
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline, log_path.read_text()[-3000:]
        time.sleep(0.2)
    running = marked_processes(mark)
    assert sum("qcluster" in command for _pid, command in running) >= 4, running

    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    pressed = time.monotonic()
    process.wait(timeout=15)
    left = marked_processes(mark)
    while left and time.monotonic() < pressed + 10:
        time.sleep(0.1)
        left = marked_processes(mark)
    assert left == [], log_path.read_text()[-3000:]
    assert process.returncode == 0
