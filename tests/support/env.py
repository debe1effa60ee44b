"""The environment the project runs in: its checkout, its settings file loaded afresh under
a chosen environment, and the environment production runs with."""

import os
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SETTINGS_FILE = ROOT / "peering_portal" / "settings.py"

# The least a production start needs.
CLEAN = {"SECRET_KEY": "s3cret", "DEBUG": "false"}

# Variables the suite's own environment may set (pytest-env, CI's DATABASE_URL and
# REDIS_URL): unset before each load, so that a load sees only what its test gives.
_CLEARED = (
    "DATABASE_URL",
    "REDIS_URL",
    "RESERVED_CIDRS",
    "Q_WORKERS",
    "DEBUG",
    "SECRET_KEY",
    "VENDOR_ROLE_ARN_TEMPLATE",
    "Q_TIMEOUT",
    "LOG_LEVEL",
    "PEERING_PLANS",
    "VENDOR_HOME_ACCOUNT_ID",
    "DEMO_MODE",
    "WEBHOOK_ALLOW_HTTP",
    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES",
    "WEBHOOK_TIMEOUT",
    "WEBHOOK_MAX_ATTEMPTS",
)


def load_settings(monkeypatch, **env):
    """The settings module's globals, run afresh with CLEAN and `env` in the environment
    (a value of None unsets that variable)."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**CLEAN, **env}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


def production_env(**extra):
    """This process's environment as a production host would have it: DEBUG off, a real
    secret key, no database or broker of the suite's, no relaxed SECURE_ setting."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DEBUG", "SECURE_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": "p" * 20 + "r0duct10n-s3cr3t-k3y-" + "x" * 20,
            "ALLOWED_HOSTS": "portal.example.com",
        },
        **extra,
    )
    return env
