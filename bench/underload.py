"""Under load: gunicorn with 2 sync workers (the production command in the README, which
closes the connection after every response) serving the deployment page to a logged-in
session, beside references on the same server: a minimal Django view (the ceiling) and the
stock admin changelist of the same rows (logged in as a superuser). The load generator
(bench/loadgen.py) runs in this process on loopback with a fixed number of connections.
The targets alternate in rounds, and each figure is the median over the rounds."""

import resource
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from django.conf import settings
from django.test import Client

from bench import loadgen
from bench.processes import cpu_seconds, free_port, stop, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 8
WARM_UP_SECONDS = 2


@dataclass
class LoadFigures:
    name: str
    path: str
    cookie: str
    per_second: list = field(default_factory=list)
    p50: list = field(default_factory=list)
    p99: list = field(default_factory=list)
    errors: int = 0
    requests: int = 0
    # CPU seconds over all rounds: gunicorn (master and workers), and this process (the
    # load generator); None where /proc is missing.
    server_cpu: float | None = 0.0
    client_cpu: float = 0.0

    def add(self, result, server_cpu, client_cpu):
        self.per_second.append(result.per_second)
        self.p50.append(result.p50)
        self.p99.append(result.p99)
        self.errors += result.errors
        self.requests += result.requests
        self.server_cpu = (
            None
            if server_cpu is None or self.server_cpu is None
            else (self.server_cpu + server_cpu)
        )
        self.client_cpu += client_cpu

    def cpu_ms_per_request(self, seconds):
        return None if seconds is None or not self.requests else seconds / self.requests * 1000

    @property
    def median_per_second(self):
        return statistics.median(self.per_second)

    @property
    def median_p50_ms(self):
        return statistics.median(self.p50) * 1000

    @property
    def median_p99_ms(self):
        return statistics.median(self.p99) * 1000


def _own_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def run(targets, out, *, seconds, rounds, progress):
    """targets: [(name, path, text the page must contain, user it is requested as)].
    Each target gets `seconds` of load in all, split over `rounds`."""
    cookies = {}
    for _name, _path, _expect, user in targets:
        if user.pk not in cookies:
            cookies[user.pk] = session_cookie(user)
    port = free_port()
    log = (out / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "peering_portal.wsgi:application",
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    figures = [LoadFigures(name, path, cookies[user.pk]) for name, path, _, user in targets]
    try:
        wait_for_port(port, process, 30)
        for name, path, expect, user in targets:
            cookie = cookies[user.pk]
            answer = httpx.get(
                f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie}, timeout=30
            )
            if answer.status_code != 200 or expect not in answer.text:
                raise RuntimeError(f"{name}: GET {path} gave {answer.status_code}")
            loadgen.run(
                "127.0.0.1",
                port,
                path,
                cookie=cookie,
                connections=CONNECTIONS,
                seconds=WARM_UP_SECONDS,
            )
        for number in range(1, rounds + 1):
            for figure in figures:
                progress(f"load round {number}/{rounds}: {figure.name}")
                server_before, client_before = cpu_seconds(process.pid), _own_cpu()
                result = loadgen.run(
                    "127.0.0.1",
                    port,
                    figure.path,
                    cookie=figure.cookie,
                    connections=CONNECTIONS,
                    seconds=seconds / rounds,
                )
                server_after = cpu_seconds(process.pid)
                figure.add(
                    result,
                    None if server_before is None else server_after - server_before,
                    _own_cpu() - client_before,
                )
    finally:
        stop(process)
        log.close()
    return figures
