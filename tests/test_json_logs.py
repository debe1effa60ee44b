"""LOG_FORMAT=json: one JSON object per line, with the request ID and the actor, in the web
and in the workers (a task carries the context of whoever asked); plain text by default."""

import io
import json
import logging
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from core import audit
from core.jsonlog import JsonFormatter
from tests.support.env import ROOT, load_settings


@pytest.fixture
def json_lines():
    """What the django.request and peerings loggers write, through the JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(name) for name in ("django.request", "peerings.tasks_test")]
    for logger in loggers:
        logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.mark.django_db
def test_a_request_logs_its_request_id_and_actor(client, owner, json_lines):
    client.force_login(owner)
    response = client.get("/deployments/999999/")
    assert response.status_code == 404
    (line,) = [entry for entry in json_lines() if entry["logger"] == "django.request"]
    assert line["level"] == "WARNING"
    assert line["message"] == "Not Found: /deployments/999999/"
    assert line["request_id"] == response["X-Request-ID"]
    assert line["actor"] == "olivia"
    assert line["actor_id"] == owner.pk
    assert line["source"] == "web"


def test_a_task_logs_the_context_of_whoever_queued_it(json_lines):
    asked = audit.Actor(user_id=7, name="mark", source="web", request_id="req-123")
    with audit.acting_as(audit.Actor(**asked.as_task_context())):
        logging.getLogger("peerings.tasks_test").info("provisioned %s", "pcx-1")
    (line,) = json_lines()
    assert (line["message"], line["request_id"], line["actor"], line["source"]) == (
        "provisioned pcx-1",
        "req-123",
        "mark",
        "task",
    )


def test_an_exception_is_kept_in_one_json_line(json_lines):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("peerings.tasks_test").exception("it failed")
    (line,) = json_lines()
    assert line["exception"].startswith("Traceback")
    assert line["exception"].endswith("ValueError: boom")


SAY_HELLO = (
    "import django; django.setup(); import logging; "
    "logging.getLogger('django_q').warning('hello from a worker')"
)


@pytest.mark.parametrize(("log_format", "is_json"), [("json", True), (None, False)])
def test_the_settings_choose_json_or_plain_text(log_format, is_json):
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "test-only",
        "DJANGO_SETTINGS_MODULE": "peering_portal.settings",
    }
    if log_format:
        env["LOG_FORMAT"] = log_format
    written = subprocess.run(
        [sys.executable, "-c", SAY_HELLO], cwd=ROOT, env=env, capture_output=True, text=True
    ).stderr.strip()
    if is_json:
        line = json.loads(written)
        assert (line["message"], line["logger"], line["source"]) == (
            "hello from a worker",
            "django_q",
            "system",
        )
    else:
        assert written.endswith("WARNING django_q hello from a worker")


def test_an_unknown_log_format_stops_start_up(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        load_settings(monkeypatch, LOG_FORMAT="xml")
