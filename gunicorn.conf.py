"""gunicorn's settings for the portal, read by gunicorn itself when started from the
checkout (`gunicorn peering_portal.wsgi`; `-c gunicorn.conf.py` from elsewhere). Bind and
worker count stay on the command line (`--bind`, `--workers`, or WEB_CONCURRENCY)."""

import os
from pathlib import Path

wsgi_app = "peering_portal.wsgi"

# SIGTERM: workers finish the requests they hold for at most this long, then are killed, so
# a stop or a deploy takes seconds. (The longest request, the dialog's AWS check, gives up
# within AWS_CHECK_* anyway.)
graceful_timeout = 5

if os.environ.get("LOG_FORMAT", "plain").strip().lower() == "json":
    # gunicorn's own lines (start, worker boot and exit) in the same JSON as Django's.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "core.jsonlog.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO"}},
    }


def on_starting(server):
    """Metrics in multiprocess mode (ops/metrics.py): drop the files of processes that no
    longer run, left by an earlier start (a new process could reuse their pids), but keep
    those of live ones, such as a qcluster started first on this host."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    for path in Path(directory).glob("*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _running(int(pid)):
            path.unlink(missing_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
