"""Login lockout counters live in a cache every process shares: Redis with REDIS_URL, else
the database (core.cache, its table made by `migrate`). A second process sees the same
count; counting is atomic and keeps the window the first failure opened."""

import subprocess
import sys
import threading

import pytest
from django.conf import settings
from django.db import connection, connections

from core import login_guard
from core.cache import TABLE, SharedDatabaseCache
from tests.support.cluster import worker_env
from tests.support.env import ROOT, load_settings

IP = "198.51.100.9"


def test_without_redis_the_cache_is_the_database_and_with_it_redis(monkeypatch):
    shared = load_settings(monkeypatch)["CACHES"]["default"]
    assert (shared["BACKEND"], shared["LOCATION"]) == ("core.cache.SharedDatabaseCache", TABLE)
    redis = load_settings(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/0")["CACHES"]["default"]
    assert redis["BACKEND"] == "django.core.cache.backends.redis.RedisCache"


def test_migrate_makes_the_cache_table_whatever_the_cache_in_use(db):
    assert TABLE in connection.introspection.table_names()


def locked_in_another_process(username, ip):
    """is_locked() asked by a fresh `manage.py shell` on this test's database and cache."""
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    code = (
        "from django.conf import settings\n"
        f"settings.CACHES['default']['KEY_PREFIX'] = {prefix!r}\n"
        "from core import login_guard\n"
        f"print(login_guard.is_locked({username!r}, {ip!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env={**worker_env(), "LOGIN_MAX_FAILURES": str(settings.LOGIN_MAX_FAILURES)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ip", [IP, None], ids=["by address", "by username"])
def test_a_lockout_counted_in_one_process_holds_in_another(owner, settings, ip):
    settings.LOGIN_MAX_FAILURES = 2
    try:
        login_guard.note_failure("olivia", ip)
        assert not locked_in_another_process("olivia", ip)
        login_guard.note_failure("olivia", ip)
        assert locked_in_another_process("olivia", ip)
    finally:
        for key, _limit in login_guard._keys("olivia", ip):
            login_guard.cache.delete(key)


@pytest.fixture
def database_cache():
    """The database cache itself, whichever cache the settings chose for this run."""
    cache = SharedDatabaseCache(TABLE, {"KEY_PREFIX": "test-shared-cache"})
    yield cache
    cache.delete("failures")


def expiry_of(cache, key):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT expires FROM {TABLE} WHERE cache_key = %s", [cache.make_key(key)])
        return cursor.fetchone()[0]


def test_counting_keeps_the_window_the_first_failure_opened(db, database_cache):
    database_cache.add("failures", 0, timeout=900)
    opened = expiry_of(database_cache, "failures")
    assert [database_cache.incr("failures") for _ in range(3)] == [1, 2, 3]
    assert expiry_of(database_cache, "failures") == opened
    assert database_cache.get("failures") == 3


def test_counting_a_missing_or_expired_entry_is_refused_as_django_does(db, database_cache):
    with pytest.raises(ValueError):
        database_cache.incr("failures")
    database_cache.set("failures", 4, timeout=-1)  # already expired
    with pytest.raises(ValueError):
        database_cache.incr("failures")


@pytest.mark.django_db(transaction=True)
def test_no_failure_is_lost_when_processes_count_at_once(database_cache):
    """Threads, each with its own database connection, as processes would have: every
    increment lands (BaseCache's read-then-write loses some)."""
    database_cache.add("failures", 0, timeout=900)
    threads, per_thread = 4, 25
    start = threading.Barrier(threads)

    def count():
        start.wait()
        try:
            for _ in range(per_thread):
                database_cache.incr("failures")
        finally:
            connections.close_all()

    workers = [threading.Thread(target=count) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert database_cache.get("failures") == threads * per_thread
