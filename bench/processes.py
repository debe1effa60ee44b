"""Starting and stopping the benchmark's helper processes (moto server, worker cluster,
gunicorn), all on 127.0.0.1."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited before listening on {port}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


def stop(process, seconds=20):
    """SIGTERM to the process (a cluster or gunicorn stops its workers itself), then SIGKILL
    to its whole session (started with start_new_session=True), so that nothing it started
    outlives the benchmark."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=seconds)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def cpu_seconds(session_id):
    """CPU time (user + system) used so far by the live processes of a session (a process
    started with start_new_session=True and everything it forked), from /proc; None where
    there is no /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        # After the ")" closing the command: state is field 0, session 3, utime 11, stime 12.
        if int(fields[3]) == session_id:
            total += int(fields[11]) + int(fields[12])
    return total / ticks
