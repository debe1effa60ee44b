"""/healthz and /readyz: JSON for load balancers, no login, called by address over plain
HTTP, nothing secret; /readyz says which check failed."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from ops import health
from ops.models import Heartbeat
from ops.signals import HEARTBEAT_SCHEDULE
from ops.tasks import WORKER, heartbeat


@pytest.fixture
def production_like(settings):
    """What a load balancer meets: the HTTPS redirect on, and it calls by IP."""
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    health._migrations_applied = False


def get(client, path):
    # Plain http to the process's address, as a load balancer's check does.
    return client.get(path, HTTP_HOST="10.0.3.17:8000")


def test_healthz_answers_without_the_database_login_or_an_allowed_host(client, production_like):
    response = get(client, "/healthz")  # no `db`: any query would fail this test
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_every_check_passes(client, production_like):
    heartbeat()
    response = get(client, "/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": "ok",
            "migrations": "ok",
            "worker_heartbeat": "ok",
            "broker": "ok",
        },
    }
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_fails_with_503_naming_a_missing_heartbeat(client, production_like):
    response = get(client, "/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "failing"
    assert response.json()["checks"]["worker_heartbeat"] == "none yet"


@pytest.mark.django_db
def test_readyz_fails_when_the_heartbeat_is_older_than_the_setting(
    client, production_like, settings
):
    settings.WORKER_HEARTBEAT_MAX_AGE = 120
    Heartbeat.objects.create(name=WORKER, beat_at=timezone.now() - timedelta(seconds=125))
    response = get(client, "/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker_heartbeat"].startswith("stale (12")
    settings.WORKER_HEARTBEAT_MAX_AGE = 600
    assert get(client, "/readyz").status_code == 200


@pytest.mark.django_db
def test_readyz_fails_while_migrations_are_pending(client, production_like, monkeypatch):
    heartbeat()
    monkeypatch.setattr(
        "django.db.migrations.executor.MigrationExecutor.migration_plan",
        lambda self, targets: [("a migration", False)],
    )
    response = get(client, "/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "1 not applied"


@pytest.mark.django_db
def test_readyz_names_an_unreachable_broker_without_its_error(client, production_like, monkeypatch):
    heartbeat()

    class Down:
        def ping(self):
            raise ConnectionError("redis://:s3cret-password@10.0.0.9:6379 refused")

    monkeypatch.setattr("django_q.brokers.get_broker", lambda *args: Down())
    response = get(client, "/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unreachable"
    assert "s3cret" not in response.content.decode()


@pytest.mark.django_db
def test_readyz_names_an_unreachable_database(client, production_like, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise OSError("connection to postgres://portal:pw@db failed")

    monkeypatch.setattr("django.db.backends.utils.CursorWrapper.execute", refuse)
    response = get(client, "/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "unreachable"
    assert checks["worker_heartbeat"] == "not checked (no database)"
    assert "pw@" not in response.content.decode()


def test_the_endpoints_take_only_get(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


@pytest.mark.django_db
def test_a_worker_heartbeat_schedule_runs_every_minute():
    schedule = Schedule.objects.get(name=HEARTBEAT_SCHEDULE)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "ops.tasks.heartbeat",
        Schedule.MINUTES,
        1,
        -1,
    )
    heartbeat()
    first = Heartbeat.objects.get(name=WORKER).beat_at
    heartbeat()
    assert Heartbeat.objects.get(name=WORKER).beat_at >= first
    assert Heartbeat.objects.count() == 1
