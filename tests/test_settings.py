import runpy

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.support.env import CLEAN, ROOT, SETTINGS_FILE, load_settings


def test_it_defaults_to_sqlite_and_the_orm_broker(monkeypatch):
    settings = load_settings(monkeypatch)
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["Q_CLUSTER"]["orm"] == "default"
    assert "redis" not in settings["Q_CLUSTER"]


def test_it_installs_the_demo_app_only_in_demo_mode(monkeypatch):
    assert "demo" not in load_settings(monkeypatch)["INSTALLED_APPS"]
    assert "demo" not in load_settings(monkeypatch, DEMO_MODE="false")["INSTALLED_APPS"]
    assert load_settings(monkeypatch, DEMO_MODE="true")["INSTALLED_APPS"][-1] == "demo"


def test_it_selects_postgresql_from_database_url(monkeypatch):
    settings = load_settings(monkeypatch, DATABASE_URL="postgres://postgres@127.0.0.1:5432/portal")
    database = settings["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["NAME"] == "portal"


def test_it_selects_the_redis_broker_from_redis_url(monkeypatch):
    settings = load_settings(monkeypatch, REDIS_URL="redis://:pw@127.0.0.1:6379/3")
    assert "orm" not in settings["Q_CLUSTER"]
    options = broker_connection(monkeypatch, settings).connection_pool.connection_kwargs
    assert (options["host"], options["port"], options["db"], options["password"]) == (
        "127.0.0.1",
        6379,
        3,
        "pw",
    )


def broker_connection(monkeypatch, settings):
    """The Redis client django-q2's broker builds from these settings (as /readyz pings it)."""
    from django_q.brokers.redis_broker import Redis
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "REDIS", settings["Q_CLUSTER"]["redis"])
    monkeypatch.setattr(Conf, "DJANGO_REDIS", None)
    return Redis.get_connection()


def test_a_silent_broker_is_given_up_on_but_a_task_wait_is_not_cut(monkeypatch):
    settings = load_settings(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/0")
    options = broker_connection(monkeypatch, settings).connection_pool.connection_kwargs
    assert options["socket_connect_timeout"] > 0
    assert 1 < options["socket_timeout"] < settings["Q_TIMEOUT"]  # above BLPOP's 1 s wait
    # Timeouts the operator wrote into REDIS_URL are kept.
    settings = load_settings(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/0?socket_timeout=9")
    assert (
        broker_connection(monkeypatch, settings).connection_pool.connection_kwargs["socket_timeout"]
        == 9
    )


def test_it_keeps_the_task_retry_longer_than_its_timeout(monkeypatch):
    cluster = load_settings(monkeypatch, Q_TIMEOUT="120")["Q_CLUSTER"]
    assert cluster["retry"] > cluster["timeout"] == 120
    assert cluster["max_attempts"] >= 1


def test_it_requires_a_secret_key_when_debug_is_off(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load_settings(monkeypatch, SECRET_KEY=None)


def test_it_allows_no_secret_key_in_debug(monkeypatch):
    assert load_settings(monkeypatch, SECRET_KEY=None, DEBUG="1")["SECRET_KEY"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("Q_WORKERS", "two"),
        ("Q_WORKERS", "0"),
        ("RESERVED_CIDRS", "100.0.0.0/8,not-a-cidr"),
        ("REDIS_URL", "localhost:6379"),
        ("DATABASE_URL", "nonsense://x"),
        ("VENDOR_ROLE_ARN_TEMPLATE", "arn:aws:iam::123456789012:role/Fixed"),
        ("LOG_LEVEL", "loud"),
        ("PEERING_PLANS", "dedicted"),
        ("VENDOR_HOME_ACCOUNT_ID", "abc"),
        ("AWS_RULES_PER_SECURITY_GROUP", "0"),
        ("AWS_ROUTES_PER_ROUTE_TABLE", "many"),
    ],
)
def test_it_stops_on_a_bad_value_naming_the_variable(monkeypatch, name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(monkeypatch, **{name: value})


def test_it_parses_the_reserved_ranges(monkeypatch):
    networks = load_settings(monkeypatch, RESERVED_CIDRS="100.0.0.0/8, 101.0.0.0/8")[
        "RESERVED_CIDRS"
    ]
    assert [str(n) for n in networks] == ["100.0.0.0/8", "101.0.0.0/8"]


class _RecordingEnviron(dict):
    """os.environ for one settings load, noting every variable the settings read."""

    def __init__(self, values, read):
        super().__init__(values)
        self.read = read

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)

    def __contains__(self, name):
        self.read.add(name)
        return super().__contains__(name)


def _listed_in_env_example():
    example = ROOT / ".env.example"
    names = set()
    for line in example.read_text().splitlines():
        line = line.lstrip("# ").strip()
        name, equals, _ = line.partition("=")
        if equals and name.isupper() and " " not in name:
            names.add(name)
    return names


def test_it_lists_every_variable_settings_read_in_env_example(monkeypatch):
    read = set()
    # Each branch of the settings: production, the demo, PostgreSQL with Redis.
    for env in (
        {**CLEAN},
        {"SECRET_KEY": "s3cret", "DEBUG": "true", "DEMO_MODE": "true"},
        {
            **CLEAN,
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/portal",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "BEHIND_TLS_PROXY": "true",
        },
    ):
        monkeypatch.setattr("os.environ", _RecordingEnviron(env, read))
        runpy.run_path(str(SETTINGS_FILE))
    assert "SECRET_KEY" in read  # the recording works
    assert read - _listed_in_env_example() == set()


def test_the_webhook_settings_default_to_closed(monkeypatch):
    loaded = load_settings(monkeypatch)
    assert loaded["WEBHOOK_ALLOW_HTTP"] is False
    assert loaded["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] is False
    assert (loaded["WEBHOOK_TIMEOUT"], loaded["WEBHOOK_MAX_ATTEMPTS"]) == (10, 12)
    opened = load_settings(
        monkeypatch,
        WEBHOOK_ALLOW_HTTP="yes",
        WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1",
        WEBHOOK_TIMEOUT="3",
        WEBHOOK_MAX_ATTEMPTS="2",
    )
    assert (
        opened["WEBHOOK_ALLOW_HTTP"],
        opened["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"],
        opened["WEBHOOK_TIMEOUT"],
        opened["WEBHOOK_MAX_ATTEMPTS"],
    ) == (True, True, 3, 2)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBHOOK_ALLOW_HTTP", "sometimes"),
        ("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "maybe"),
        ("WEBHOOK_TIMEOUT", "ten"),
        ("WEBHOOK_TIMEOUT", "0"),
        ("WEBHOOK_MAX_ATTEMPTS", "0"),
    ],
)
def test_a_bad_webhook_setting_stops_start_up_naming_it(monkeypatch, name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(monkeypatch, **{name: value})
