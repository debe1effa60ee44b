"""The one settings module. Every knob is an environment variable, parsed strictly:
a value that does not parse stops start-up with a message naming the variable."""

import ipaddress
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=""):
    return os.environ.get(name, default)


def envbool(name, default):
    value = env(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (1/0, yes/no, on/off), not {value!r}")


def envint(name, default, minimum=None):
    value = env(name, default).strip()
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def envlist(name, default):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def _bucket(name, value):
    try:
        capacity, rate = (float(part) for part in value.split("/"))
    except ValueError:
        capacity = rate = 0
    if capacity < 1 or rate <= 0:
        raise ImproperlyConfigured(
            f"{name} must be capacity/refill per second (at least 1 and above 0), e.g. 50/5, "
            f"not {value!r}"
        )
    return capacity, rate


def envbucket(name, default):
    """A token bucket written `capacity/refill per second`, e.g. `50/5`."""
    return _bucket(name, env(name, default).strip())


def envbuckets(name, default):
    """Buckets by action: `DescribeRouteTables=100/20,CreateRoute=50/5`."""
    buckets = {}
    for item in envlist(name, default):
        action, _, size = (part.strip() for part in item.partition("="))
        if not action.isalnum():
            raise ImproperlyConfigured(f"{name} must list Action=capacity/rate, not {item!r}")
        buckets[action] = _bucket(name, size)
    return buckets


def envnetworks(name, default):
    networks = []
    for item in envlist(name, default):
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError:
            raise ImproperlyConfigured(f"{name} must list CIDRs, and {item!r} is not one") from None
    return networks


DEBUG = envbool("DEBUG", "false")
SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-used-when-debug-is-on"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_q",
    "core",
    "peerings",
    "webhooks",
    "ops",
    "rest_framework",
    "drf_spectacular",
    "api",
    # and "demo" in demo mode (DEMO_MODE, below)
]

MIDDLEWARE = [
    # /healthz, /readyz and /metrics, before the host check and the HTTPS redirect.
    "ops.middleware.OperationsEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The collected static files, straight after the HTTPS redirect (WhiteNoise's advice).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After the session (it reads the language cookie), before CommonMiddleware.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in user's stored language wins over the browser's (needs the user).
    "core.languages.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.AuditContextMiddleware",
]

ROOT_URLCONF = env("ROOT_URLCONF", "peering_portal.urls")
WSGI_APPLICATION = "peering_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "core.context_processors.portal",
            ],
        },
    },
]

DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    try:
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # The web server and the worker cluster write at the same time: WAL plus
            # IMMEDIATE transactions keep that from ending in "database is locked".
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL;",
            },
            # A file, not memory, so that a real worker process can share the test database.
            "TEST": {"NAME": str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "deployment-list"
LOGOUT_REDIRECT_URL = "login"

# English by default; the browser's Accept-Language, then the user's own choice (stored on
# the user: core.UserPreference) pick Chinese.
LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# `manage.py collectstatic` (every deploy) writes compressed copies under hashed names;
# WhiteNoise serves those with a year's cache (a changed file gets a new name). Templates
# then need the collected manifest: the tests use plain storage (tests/conftest.py).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- security ---
SESSION_COOKIE_SECURE = not DEBUG and envbool("SECURE_COOKIES", "true")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "false" if DEBUG else "true")
# True when a proxy in front of the app terminates TLS: every connection then comes from a
# proxy, so login lockouts do not count by the connection's address (core.login_guard).
BEHIND_TLS_PROXY = envbool("BEHIND_TLS_PROXY", "false")
if BEHIND_TLS_PROXY:
    # Only behind a proxy that sets this header itself and strips it from clients.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 0 if DEBUG else envint("SECURE_HSTS_SECONDS", "31536000", minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "true")
# The preload directive alone lists nobody: a domain joins browsers' lists only when its
# owner submits it. Sending it keeps `check --deploy` clean and the choice with the owner.
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "true")
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# No inline script anywhere (htmx is served from the app, our JS is a static file); the
# admin's inline style attributes need 'unsafe-inline' for styles only.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Failed logins: this many per (username, address) within the window lock that pair out.
LOGIN_MAX_FAILURES = envint("LOGIN_MAX_FAILURES", "5", minimum=1)
LOGIN_LOCKOUT_SECONDS = envint("LOGIN_LOCKOUT_SECONDS", "900", minimum=1)

LOG_LEVEL = env("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {LOG_LEVEL!r}"
    )
# json: one JSON object per line, with the request ID and actor (core/jsonlog.py).
LOG_FORMAT = env("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "core.jsonlog.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Libraries that narrate every HTTP call; the simulator's werkzeug logs every request.
    "loggers": {
        name: {"level": "WARNING"} for name in ("botocore", "urllib3", "werkzeug", "httpx")
    },
}

# --- background work (django-q2) ---
# timeout < retry, or the ORM broker hands a slow task to a second worker while the first
# still runs it; max_attempts bounds the retries of a task that keeps failing.
Q_TIMEOUT = envint("Q_TIMEOUT", "300", minimum=10)
# Webhook deliveries have a cluster (a queue and workers) of their own, so that a slow
# receiver never holds up AWS work: django-q2's ALT_CLUSTERS, chosen per process by
# Q_CLUSTER_NAME=<name>-webhooks (`manage.py qcluster` for AWS work, and
# `Q_CLUSTER_NAME=peering_portal-webhooks manage.py qcluster` for deliveries). The portal's
# name stays <name> in both: it signs their tasks and prefixes their queues.
WEBHOOK_CLUSTER_SUFFIX = "-webhooks"
Q_NAME = env("Q_CLUSTER_NAME", "peering_portal").removesuffix(WEBHOOK_CLUSTER_SUFFIX)
Q_CLUSTER = {
    # The broker's queue: clusters with the same name share the work.
    "name": Q_NAME,
    "workers": envint("Q_WORKERS", "2", minimum=1),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 60,
    "max_attempts": envint("Q_MAX_ATTEMPTS", "3", minimum=1),
    "ack_failures": True,
    "save_limit": 1000,
    "poll": 1,
    "catch_up": False,
    "label": "Background tasks",
    "ALT_CLUSTERS": {
        Q_NAME + WEBHOOK_CLUSTER_SUFFIX: {
            "workers": envint("WEBHOOK_WORKERS", "2", minimum=1),
            "label": "Webhook deliveries",
        }
    },
}
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"REDIS_URL must be a redis:// URL, not {REDIS_URL!r}")
    # django-q2 hands this URL to redis-py (redis.from_url), which reads timeouts from its
    # query: without them a silent Redis hangs each /readyz ping (a sync web worker) and the
    # workers for good. The read timeout stays above the 1 s a worker's BLPOP waits for a
    # task; timeouts already in REDIS_URL win.
    _parts = urlsplit(REDIS_URL)
    _query = {"socket_connect_timeout": "2", "socket_timeout": "5", **dict(parse_qsl(_parts.query))}
    Q_CLUSTER["redis"] = urlunsplit(_parts._replace(query=urlencode(_query)))
    # Shared by every web process: login lockouts count across all of them.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "peering_portal",
        }
    }
else:
    Q_CLUSTER["orm"] = "default"
    # Shared by every process through the database (core.cache; its table is made by
    # `migrate`): login lockouts count across all web processes without Redis too.
    CACHES = {
        "default": {
            "BACKEND": "core.cache.SharedDatabaseCache",
            "LOCATION": "core_cache",  # core.cache.TABLE
            # Entries expire with their lockout window. Far above Django's 300, so that
            # failures under many names cannot evict the counters that lock an attacker out.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# /readyz fails when no worker has run the heartbeat task (every minute) for this long (s).
WORKER_HEARTBEAT_MAX_AGE = envint("WORKER_HEARTBEAT_MAX_AGE", "180", minimum=60)

# --- AWS ---
# Credentials come from boto3's standard chain; AWS_ENDPOINT_URL (read by boto3 itself)
# points at the simulator in the demo and the tests.
AWS_CONNECT_TIMEOUT = envint("AWS_CONNECT_TIMEOUT", "5", minimum=1)
AWS_READ_TIMEOUT = envint("AWS_READ_TIMEOUT", "10", minimum=1)
AWS_MAX_ATTEMPTS = envint("AWS_MAX_ATTEMPTS", "5", minimum=1)
# The same for the check a customer waits on in the dialog: answered within seconds. At
# worst attempts × (connect + read) per call: 10 s, twice that when a role is assumed.
AWS_CHECK_CONNECT_TIMEOUT = envint("AWS_CHECK_CONNECT_TIMEOUT", "2", minimum=1)
AWS_CHECK_READ_TIMEOUT = envint("AWS_CHECK_READ_TIMEOUT", "3", minimum=1)
AWS_CHECK_MAX_ATTEMPTS = envint("AWS_CHECK_MAX_ATTEMPTS", "2", minimum=1)
# The account whose credentials the portal runs with. Deployments in any other vendor
# account are reached by assuming the role below in that account.
VENDOR_HOME_ACCOUNT_ID = env("VENDOR_HOME_ACCOUNT_ID", "123456789012")
if not (
    len(VENDOR_HOME_ACCOUNT_ID) == 12
    and VENDOR_HOME_ACCOUNT_ID.isascii()
    and VENDOR_HOME_ACCOUNT_ID.isdigit()
):
    raise ImproperlyConfigured(
        f"VENDOR_HOME_ACCOUNT_ID must be a 12-digit AWS account ID, not {VENDOR_HOME_ACCOUNT_ID!r}"
    )
VENDOR_ROLE_ARN_TEMPLATE = env(
    "VENDOR_ROLE_ARN_TEMPLATE", "arn:aws:iam::{account_id}:role/PeeringPortal"
)
if "{account_id}" not in VENDOR_ROLE_ARN_TEMPLATE:
    raise ImproperlyConfigured("VENDOR_ROLE_ARN_TEMPLATE must contain {account_id}")
VENDOR_NAME = env("VENDOR_NAME", "Peering Cloud")
# AWS quotas of the vendor accounts (AWS's defaults; raise them here once AWS has raised
# them): a new peering that would not fit is refused before the customer is kept waiting.
AWS_RULES_PER_SECURITY_GROUP = envint("AWS_RULES_PER_SECURITY_GROUP", "60", minimum=1)
AWS_ROUTES_PER_ROUTE_TABLE = envint("AWS_ROUTES_PER_ROUTE_TABLE", "50", minimum=2)
# The EC2 request budget of each vendor account, per region and action, shared by every
# process (ratebudget.py): AWS's documented token buckets, `capacity/refill per second`
# ("Request throttling for the Amazon EC2 API"). Lower them when something else (a
# Terraform run, the console) spends the same accounts' budget; raise them once AWS has.
AWS_BUDGET_NON_MUTATING = envbucket("AWS_BUDGET_NON_MUTATING", "100/20")
AWS_BUDGET_UNFILTERED_NON_MUTATING = envbucket("AWS_BUDGET_UNFILTERED_NON_MUTATING", "50/10")
AWS_BUDGET_MUTATING = envbucket("AWS_BUDGET_MUTATING", "50/5")
AWS_BUDGET_RESOURCE_INTENSIVE = envbucket("AWS_BUDGET_RESOURCE_INTENSIVE", "50/5")
# Per action, over its category's: `DescribeRouteTables=200/40,CreateRoute=100/10`.
AWS_BUDGET_ACTIONS = envbuckets("AWS_BUDGET_ACTIONS", "")
# Seconds a worker's AWS request may wait for its budget before the step is retried later
# (the dialog waits at most AWS_CHECK_READ_TIMEOUT).
AWS_BUDGET_MAX_WAIT = envint("AWS_BUDGET_MAX_WAIT", "30", minimum=1)
# How long the worker waits for AWS to report a just-accepted peering as active.
PEERING_ACTIVE_TIMEOUT = envint("PEERING_ACTIVE_TIMEOUT", "60", minimum=1)

# Reconcile re-queues a peering stuck in pending/provisioning/deleting this long (seconds).
RECONCILE_STUCK_AFTER = envint("RECONCILE_STUCK_AFTER", "600", minimum=0)
RECONCILE_EVERY_MINUTES = envint("RECONCILE_EVERY_MINUTES", "5", minimum=1)
# The audit chain's head is checkpointed (and logged, for keeping elsewhere) this often.
AUDIT_CHECKPOINT_EVERY_MINUTES = envint("AUDIT_CHECKPOINT_EVERY_MINUTES", "15", minimum=1)

# Customer VPCs may not use these ranges (the vendor's platform uses them internally).
RESERVED_CIDRS = envnetworks("RESERVED_CIDRS", "100.0.0.0/8,101.0.0.0/8")
# Plans on which VPC peering is offered.
PEERING_PLANS = envlist("PEERING_PLANS", "dedicated,enterprise")
_KNOWN_PLANS = {"free_trial", "shared", "dedicated", "enterprise"}  # Deployment.Plan
if not PEERING_PLANS or set(PEERING_PLANS) - _KNOWN_PLANS:
    raise ImproperlyConfigured(
        f"PEERING_PLANS must list plans among {', '.join(sorted(_KNOWN_PLANS))}, "
        f"not {', '.join(PEERING_PLANS) or 'nothing'}"
    )

# Demo mode (`make run`) installs the demo app: the demo world in the AWS simulator and a
# sandbox customer account, with its button in the dialog, its URLs and its commands. Never
# on in production, where the app's install extra (moto) is not even installed.
DEMO_MODE = envbool("DEMO_MODE", "false")
DEMO_CUSTOMER_ACCOUNT_ID = env("DEMO_CUSTOMER_ACCOUNT_ID", "210987654321")
if DEMO_MODE:
    INSTALLED_APPS.append("demo")

# Proxies whose X-Forwarded-For header is believed.
TRUSTED_PROXIES = envnetworks("TRUSTED_PROXIES", "")

# --- the REST API (/api/v1/, the api app) ---
# Requests a minute per API key, counted in the cache (shared by every process with Redis).
API_RATE_LIMIT_PER_MINUTE = envint("API_RATE_LIMIT_PER_MINUTE", "300", minimum=1)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Peering Portal API",
    "DESCRIPTION": "Automate VPC peering between your AWS VPCs and your deployments.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_problems",
    ],
}

# --- webhooks ---
# Local development only: http:// URLs, and endpoints on loopback or private addresses. The
# cloud metadata addresses stay refused whatever these say.
WEBHOOK_ALLOW_HTTP = envbool("WEBHOOK_ALLOW_HTTP", "false")
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = envbool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "false")
# Seconds for each of connect, write, read (between bytes) of one delivery attempt.
WEBHOOK_TIMEOUT = envint("WEBHOOK_TIMEOUT", "10", minimum=1)
# Seconds one attempt may take in all, however slowly the receiver drips its answer.
WEBHOOK_DEADLINE = envint("WEBHOOK_DEADLINE", "20", minimum=1)
if WEBHOOK_DEADLINE >= Q_TIMEOUT:
    raise ImproperlyConfigured("WEBHOOK_DEADLINE must be shorter than Q_TIMEOUT")
# Attempts per delivery, the first included; retries back off from 30 s, doubling.
WEBHOOK_MAX_ATTEMPTS = envint("WEBHOOK_MAX_ATTEMPTS", "12", minimum=1)

# --- metrics (/metrics, Prometheus) ---
# Scrapes carry `Authorization: Bearer <METRICS_TOKEN>` or come from METRICS_ALLOWED_NETWORKS
# (the connection's address); with neither set, /metrics answers 404. Several processes on a
# host share counts through PROMETHEUS_MULTIPROC_DIR (read by prometheus_client itself).
METRICS_TOKEN = env("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = envnetworks("METRICS_ALLOWED_NETWORKS", "")
