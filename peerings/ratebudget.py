"""One AWS request budget per (account, region, action), shared by every web and worker
process on every host, so that together they stay inside what AWS allows instead of each
finding the limit by being throttled.

EC2 throttles each account per region and per action with token buckets (AWS's "Request
throttling for the Amazon EC2 API"); we keep a copy of each bucket, in Redis when REDIS_URL
is set (one atomic script), else in the database (one conditional UPDATE), and every HTTP
request to EC2 takes a token first (peerings/aws.py hooks it into each client). Who waits
for whom: the customer in the dialog may empty a bucket; provisioning leaves a reserve for
the dialog; reconcile leaves a larger one, so it only uses what the others leave over.

No boto3 here: peerings/aws.py calls `take` before each request and `throttled` when AWS
answered RequestLimitExceeded anyway (someone else shares the account's budget)."""

import contextlib
import logging
import random
import time
from contextvars import ContextVar
from enum import IntEnum
from functools import lru_cache
from urllib.parse import parse_qs

import redis
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest, Least
from django.db.models.lookups import GreaterThanOrEqual
from django_q.conf import Conf

log = logging.getLogger(__name__)

# What a store raises when Redis or the database does not answer (or answers wrongly).
STORE_ERRORS = (redis.RedisError, DatabaseError)

# Seconds to wait for Redis before giving up on it: every EC2 request waits on the store
# first (in botocore's before-send), so a silent Redis must cost about a second, not the
# whole of the dialog's AWS_CHECK_READ_TIMEOUT or more.
REDIS_TIMEOUT = 1.0


class Priority(IntEnum):
    DIALOG = 0  # a person is waiting on the page
    API = 1  # a program's create is checked: it waits, but must not starve the dialog
    PROVISIONING = 2  # a customer's peering is being set up (or deleted)
    RECONCILE = 3  # the periodic comparison with AWS: nobody waits for it


# The share of a bucket each priority must leave in it: reserves bound who may use a burst,
# not anyone's steady rate (refills go to whoever asks when the bucket is above its reserve).
RESERVE = {
    Priority.DIALOG: 0.0,
    Priority.API: 0.1,
    Priority.PROVISIONING: 0.2,
    Priority.RECONCILE: 0.5,
}

# EC2's categories (AWS's documentation, "Request token bucket sizes and refill rates").
# Every action not listed is mutating, unless its name says it only reads.
RESOURCE_INTENSIVE = frozenset(
    {
        "AcceptVpcPeeringConnection",
        "AuthorizeSecurityGroupIngress",
        "CancelSpotInstanceRequests",
        "CreateKeyPair",
        "CreateVpcPeeringConnection",
        "DeleteVpcPeeringConnection",
        "RejectVpcPeeringConnection",
        "RevokeSecurityGroupIngress",
        "RequestSpotInstances",
    }
)
# Their smaller bucket applies when they are asked without a filter or pagination
# (`is_filtered`); asked with one, AWS counts them as ordinary non-mutating actions. The
# portal always filters its DescribeSecurityGroups: a reconcile of 500 deployments is then
# paced by the 100/20 bucket, not the 50/10 one (47 s → 33 s in bench/results.md).
UNFILTERED_NON_MUTATING = frozenset(
    {
        "DescribeInstances",
        "DescribeInstanceStatus",
        "DescribeNetworkInterfaces",
        "DescribeSecurityGroups",
        "DescribeSnapshots",
        "DescribeSpotInstanceRequests",
        "DescribeVolumes",
    }
)
NON_MUTATING_PREFIXES = ("Describe", "List", "Search", "Get")

# No default: explicit_priority() tells a block's level from none set (then PROVISIONING, or
# DIALOG for a page's own checks: peerings.aws).
_priority: ContextVar[Priority] = ContextVar("aws_priority")


@contextlib.contextmanager
def priority(level: Priority):
    """AWS requests made inside this block (in this thread or task) ask at `level`."""
    token = _priority.set(level)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> Priority:
    return _priority.get(Priority.PROVISIONING)


def explicit_priority() -> Priority | None:
    """The level a `priority` block set, or None outside any."""
    return _priority.get(None)


class OverBudget(Exception):
    """No token came within the wait this priority allows: AWS is busy for us right now."""


def is_filtered(body: str | bytes | None) -> bool:
    """Whether an EC2 request (its query-string body) narrows its answer with a filter or
    pages it with MaxResults."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    fields = parse_qs(body or "")
    return "MaxResults" in fields or any(name.startswith("Filter.") for name in fields)


def bucket_size(action: str, *, filtered: bool = False) -> tuple[float, float]:
    """(capacity, tokens refilled per second) of the action's bucket, from the settings."""
    if action in settings.AWS_BUDGET_ACTIONS:
        return settings.AWS_BUDGET_ACTIONS[action]
    if action in RESOURCE_INTENSIVE:
        return settings.AWS_BUDGET_RESOURCE_INTENSIVE
    if action in UNFILTERED_NON_MUTATING and not filtered:
        return settings.AWS_BUDGET_UNFILTERED_NON_MUTATING
    if action.startswith(NON_MUTATING_PREFIXES):
        return settings.AWS_BUDGET_NON_MUTATING
    return settings.AWS_BUDGET_MUTATING


def take(
    account_id: str,
    region: str,
    action: str,
    level: Priority,
    max_wait: float,
    *,
    filtered: bool = False,
) -> float:
    """Take one token from the action's bucket, waiting (with jitter, so that processes
    waiting together do not all come back in the same instant) while it holds no more
    than this priority's reserve. Returns the seconds waited; raises OverBudget when the
    wait would pass `max_wait`."""
    capacity, rate = bucket_size(action, filtered=filtered)
    reserve = capacity * RESERVE[level]
    waited = 0.0
    while True:
        try:
            wait = store().take((account_id, region, action), capacity, rate, reserve)
        except STORE_ERRORS:
            # Fail open: the request goes without a token. The budget only spares us AWS's
            # throttling, which botocore retries and we report as "try again" anyway;
            # refusing instead would stop every customer's dialog and peering while Redis
            # (or the database) is out, though AWS itself is fine.
            log.warning(
                "AWS budget store failed; %s in %s of %s goes without a token",
                action,
                region,
                account_id,
                exc_info=True,
            )
            return waited
        if wait <= 0:
            return waited
        pause = wait * random.uniform(1.0, 1.5)
        if waited + pause > max_wait:
            raise OverBudget(
                f"no {action} request budget in {region} of {account_id} within {max_wait:g} s"
            )
        time.sleep(pause)
        waited += pause


def throttled(account_id: str, region: str, action: str) -> None:
    """AWS answered RequestLimitExceeded: count it, and empty our copy of the bucket, since
    AWS's is empty (something else spends this account's budget too): every process then
    waits for refills instead of being throttled in turn. A store that fails is logged, not
    raised: botocore retries the throttled request all the same."""
    try:
        store().throttled((account_id, region, action))
    except STORE_ERRORS:
        log.warning(
            "AWS budget store failed; a throttled %s in %s of %s was not counted",
            action,
            region,
            account_id,
            exc_info=True,
        )


def throttle_counts() -> dict[tuple[str, str, str], int]:
    """RequestLimitExceeded answers so far, by (account, region, action), summed over every
    process (for the metrics)."""
    return store().throttle_counts()


class RedisStore:
    """Buckets as Redis hashes, updated by one script (atomic), on Redis's own clock."""

    TAKE = """
    local capacity, rate, reserve = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    local clock = redis.call('TIME')
    local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
    local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
    local tokens = tonumber(state[1]) or capacity
    local at = tonumber(state[2]) or now
    tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
    local wait = 0
    if tokens >= reserve + 1 then
      tokens = tokens - 1
    else
      wait = (reserve + 1 - tokens) / rate
    end
    redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
    redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
    return tostring(wait)
    """

    def __init__(self, url, prefix=None):
        self.redis = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        self._prefix = prefix
        self.script = self.redis.register_script(self.TAKE)

    @property
    def prefix(self):
        # The portal's name in django-q2 (Q_CLUSTER_NAME): every process of one portal
        # shares its budget; another portal on the same Redis has its own.
        return self._prefix or Conf.PREFIX

    def key(self, bucket):
        return f"{self.prefix}:aws-budget:{':'.join(bucket)}"

    def take(self, bucket, capacity, rate, reserve):
        return float(self.script(keys=[self.key(bucket)], args=[capacity, rate, reserve]))

    def throttled(self, bucket):
        pipe = self.redis.pipeline()
        pipe.hset(self.key(bucket), "tokens", "0")
        pipe.hincrby(f"{self.prefix}:aws-throttled", ":".join(bucket), 1)
        pipe.execute()

    def throttle_counts(self):
        counts = self.redis.hgetall(f"{self.prefix}:aws-throttled")
        return {tuple(key.decode().split(":")): int(n) for key, n in counts.items()}


class DatabaseStore:
    """Buckets as rows (peerings.AwsRateBucket), each take one conditional UPDATE: refill by
    the time elapsed, and take a token only if that leaves more than the reserve."""

    def take(self, bucket, capacity, rate, reserve):
        from peerings.models import AwsRateBucket

        account_id, region, action = bucket
        now = time.time()
        refilled = Least(
            Value(float(capacity)),
            F("tokens") + Greatest(Value(0.0), Value(now) - F("refilled_at")) * Value(rate),
        )
        rows = AwsRateBucket.objects.filter(account_id=account_id, region=region, action=action)
        if rows.filter(GreaterThanOrEqual(refilled, reserve + 1)).update(
            tokens=refilled - 1, refilled_at=now
        ):
            return 0.0
        row = rows.values("tokens", "refilled_at").first()
        if row is None:
            # Another process may make it first: then take from theirs.
            with contextlib.suppress(IntegrityError), transaction.atomic():
                AwsRateBucket.objects.create(
                    account_id=account_id,
                    region=region,
                    action=action,
                    tokens=capacity - 1,
                    refilled_at=now,
                )
                return 0.0
            return self.take(bucket, capacity, rate, reserve)
        tokens = min(capacity, row["tokens"] + max(0.0, now - row["refilled_at"]) * rate)
        return max((reserve + 1 - tokens) / rate, 0.001)

    def throttled(self, bucket):
        from peerings.models import AwsRateBucket

        account_id, region, action = bucket
        AwsRateBucket.objects.filter(account_id=account_id, region=region, action=action).update(
            tokens=0.0, refilled_at=time.time(), throttled=F("throttled") + 1
        )

    def throttle_counts(self):
        from peerings.models import AwsRateBucket

        return {
            (account_id, region, action): count
            for account_id, region, action, count in AwsRateBucket.objects.filter(
                throttled__gt=0
            ).values_list("account_id", "region", "action", "throttled")
        }


@lru_cache(maxsize=1)
def store():
    if settings.REDIS_URL:
        return RedisStore(settings.REDIS_URL)
    return DatabaseStore()
