"""`make run`: the AWS simulator, the web server and two django-q2 clusters (AWS work, and
webhook deliveries), with the demo world seeded in between. Ctrl-C (or any of them dying)
stops them all, with every process they started, within seconds (supervise.py)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import supervise

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WEB_PORT = int(os.environ.get("WEB_PORT", "8000"))
AWS_PORT = int(os.environ.get("AWS_PORT", "5000"))

ENV = {
    **os.environ,
    # DEBUG off, as in production and in the tests, so that people trying the demo meet the
    # console's own error pages rather than Django's debug pages (`DEBUG=1 make run` brings
    # those back). DEBUG off wants a secret key, and plain http on 127.0.0.1 wants no
    # redirect to https and no Secure-only cookies.
    "DEBUG": os.environ.get("DEBUG", "0"),
    "SECRET_KEY": os.environ.get("SECRET_KEY", "demo-only-key-never-used-in-production"),
    "SECURE_SSL_REDIRECT": os.environ.get("SECURE_SSL_REDIRECT", "0"),
    "SECURE_COOKIES": os.environ.get("SECURE_COOKIES", "0"),
    # The demo app (its seed, its commands, the dialog's sandbox button) is installed only
    # in demo mode, and this is the demo.
    "DEMO_MODE": "1",
    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{AWS_PORT}",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PYTHONUNBUFFERED": "1",
    # The demo may send webhooks to a receiver on this machine (never in production).
    "WEBHOOK_ALLOW_HTTP": os.environ.get("WEBHOOK_ALLOW_HTTP", "1"),
    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": os.environ.get("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "1"),
}


RUNSERVER = [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{WEB_PORT}"]
# Before the web server starts. collectstatic: as in production, WhiteNoise serves the
# collected files under their hashed names (and the pages link those names).
PREPARE = [
    ("migrate", "--no-input", "-v", "0"),
    ("collectstatic", "--no-input", "-v", "0"),
    ("seed_demo",),
]
# Seconds Ctrl-C gives the processes to stop by themselves before they are killed: a
# worker in the middle of a task would otherwise hold the others for up to Q_TIMEOUT.
STOP_GRACE = 5


def wait_for_port(port, process, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{process.args[0]} exited before listening on port {port}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    sys.exit(f"nothing listens on port {port} after {seconds}s")


def port_is_free(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def moto_server():
    """The simulator's executable, from the `demo` install extra (`make run` installs it)."""
    path = Path(PYTHON).parent / "moto_server"
    if not path.exists():
        sys.exit(
            f"{path} is missing: the AWS simulator comes with the demo extra "
            "(pip install -e '.[dev,demo]'; make run does it)."
        )
    return path


def manage(*args):
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=ENV, check=True)


def main():
    for port, name in ((WEB_PORT, "WEB_PORT"), (AWS_PORT, "AWS_PORT")):
        if not port_is_free(port):
            sys.exit(f"Port {port} is taken; stop what uses it or set {name}=another port.")
    processes = []

    # Started in the background by a shell, SIGINT arrives ignored; Ctrl-C must still work.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        moto = supervise.start(
            [str(moto_server()), "-H", "127.0.0.1", "-p", str(AWS_PORT)],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(moto)
        wait_for_port(AWS_PORT, moto)
        for command in PREPARE:
            manage(*command)
        processes.append(supervise.start(RUNSERVER, cwd=ROOT, env=ENV))
        processes.append(supervise.start([PYTHON, "manage.py", "qcluster"], cwd=ROOT, env=ENV))
        # Webhook deliveries have a cluster of their own (settings: ALT_CLUSTERS).
        webhooks = {
            **ENV,
            "Q_CLUSTER_NAME": ENV.get("Q_CLUSTER_NAME", "peering_portal") + "-webhooks",
        }
        processes.append(supervise.start([PYTHON, "manage.py", "qcluster"], cwd=ROOT, env=webhooks))
        wait_for_port(WEB_PORT, processes[1])
        print(
            f"\n  Peering Portal: http://127.0.0.1:{WEB_PORT}/\n"
            f"  Customer login: demo / demo     Support login: support / support\n"
            f"  AWS simulator:  http://127.0.0.1:{AWS_PORT}/ (starts empty every run)\n"
            f"  Play the customer (or press the dialog's button), in another shell:\n"
            f"    DEBUG=1 DEMO_MODE=1 AWS_ENDPOINT_URL=http://127.0.0.1:{AWS_PORT} "
            f"AWS_ACCESS_KEY_ID=testing "
            f"AWS_SECRET_ACCESS_KEY=testing .venv/bin/python manage.py create_customer_request "
            f"orders-us-east\n"
            f"  Ctrl-C stops them all.\n",
            flush=True,
        )
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        print("One of the processes stopped; stopping the others.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if killed := supervise.stop(processes, STOP_GRACE):
            print(f"Killed {len(killed)} processes still running after {STOP_GRACE}s.")


if __name__ == "__main__":
    sys.exit(main())
