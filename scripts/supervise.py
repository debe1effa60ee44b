"""Starting and stopping a set of processes, each with everything it forks: `make run`
(devstack.py) and the production run in CI (prodcheck.py).

Each process starts in a session (and process group) of its own. Then Ctrl-C reaches only
the supervisor, which stops each group in turn; and a process that forked (a qcluster's
sentinel, pusher, monitor and workers; gunicorn's workers) is stopped with all it forked,
not just its first process. Stopping only the first is how five qcluster processes once
outlived `make run` by 45 s: killed after its 10 s, the qcluster left its sentinel waiting
for a worker that was still running a task."""

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def start(command, **kwargs):
    return subprocess.Popen(command, start_new_session=True, **kwargs)


def alive_in_group(group):
    """The pids of the group's processes that still run (zombies aside), read from /proc."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The name (field 2) may hold spaces: split after its closing parenthesis;
            # then the state is field 0 and the process group field 2.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def terminate(processes):
    """SIGTERM to each process (gunicorn and qcluster stop their own workers)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()


def wait_for_groups(processes, seconds):
    """Until no process of their groups runs, at most `seconds`; returns the pids left."""
    deadline = time.monotonic() + seconds
    while True:
        for process in processes:
            process.poll()  # reap our own children, so they do not count as running
        left = [pid for process in processes for pid in alive_in_group(process.pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def kill_groups(processes):
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stop(processes, grace):
    """SIGTERM, `grace` seconds for everything to end by itself, then SIGKILL to whatever
    is left of each group (a worker in the middle of a task: tasks are idempotent and the
    broker or reconcile hands the task out again). Returns the pids that had to be killed."""
    terminate(processes)
    left = wait_for_groups(processes, grace)
    kill_groups(processes)
    return left
