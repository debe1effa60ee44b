"""Whole programs started by the tests (`make run`'s devstack), and finding every process
they left, by a mark in the environment each process inherits."""

import socket
import time
from pathlib import Path


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, seconds, log_path):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, Path(log_path).read_text()[-3000:]
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port}: " + Path(log_path).read_text()[-3000:])


def marked_processes(mark):
    """(pid, command) of every running process whose environment holds `mark` (a process
    keeps the environment it was started with, whoever its parent is now)."""
    found = []
    needle = mark.encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle not in (proc / "environ").read_bytes():
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # ended meanwhile
        if state != "Z":
            found.append((int(proc.name), command.strip()))
    return found


def note_then_sleep(path, seconds):
    """A task that says it has started (a file) and then runs for a while: "a task running"
    when the test presses Ctrl-C. Run by a real cluster, hence importable."""
    Path(path).write_text("started")
    time.sleep(seconds)
