"""The AWS request budget every process shares (peerings/ratebudget.py): token buckets per
(account, region, action) in the database, or in Redis when REDIS_URL is set; priorities
(the dialog, then provisioning, then reconcile); every EC2 request takes a token; AWS's
RequestLimitExceeded is counted and backed off; the worker's retry rounds spread out."""

import logging
import os
import uuid

import pytest
import redis
from django.db import DatabaseError
from django.urls import reverse

from bench.throttleproxy import ThrottleProxy
from demo import sandbox
from peerings import aws, queue, ratebudget, tasks
from peerings.models import PeeringConnection
from tests.support.aws import REGION, VENDOR, aws_calls, vendor_ec2

pytestmark = pytest.mark.django_db
Priority = ratebudget.Priority
STORES = ["database", "redis"] if os.environ.get("REDIS_URL") else ["database"]


@pytest.fixture(params=STORES)
def store(request, monkeypatch):
    """Each store, made the one the budget uses; buckets of a made-up account, apart from
    any other test's."""
    if request.param == "redis":
        made = ratebudget.RedisStore(os.environ["REDIS_URL"], f"test-{uuid.uuid4().hex}")
    else:
        made = ratebudget.DatabaseStore()
    monkeypatch.setattr(ratebudget, "store", lambda: made)
    return made


def bucket(action="CreateRoute"):
    return (f"{uuid.uuid4().int % 10**12:012d}", REGION, action)


def takes_until_refused(account, action, level):
    """How many tokens `level` gets before the budget makes it wait (nothing refills)."""
    count = 0
    while True:
        try:
            ratebudget.take(account, REGION, action, level, max_wait=0.5)
        except ratebudget.OverBudget:
            return count
        count += 1


def test_a_bucket_gives_its_capacity_then_asks_to_wait(store):
    key = bucket()
    waits = [store.take(key, 5, 0.001, 0) for _ in range(6)]
    assert waits[:5] == [0, 0, 0, 0, 0]
    assert waits[5] > 100  # one token at 0.001/s is most of 1000 s away


def test_lower_priorities_leave_a_reserve_for_higher_ones(store, settings):
    settings.AWS_BUDGET_ACTIONS = {"CreateRoute": (10, 0.001)}
    account = bucket()[0]
    # Reconcile stops at half the bucket, provisioning at a fifth, the API's checks at a
    # tenth, the dialog empties it.
    assert takes_until_refused(account, "CreateRoute", Priority.RECONCILE) == 5
    assert takes_until_refused(account, "CreateRoute", Priority.PROVISIONING) == 3
    assert takes_until_refused(account, "CreateRoute", Priority.API) == 1
    assert takes_until_refused(account, "CreateRoute", Priority.DIALOG) == 1


def test_buckets_are_per_account_region_and_action(store):
    key = bucket()
    assert store.take(key, 1, 0.001, 0) == 0
    assert store.take(key, 1, 0.001, 0) > 0
    others = [(key[0], "eu-west-1", key[2]), (key[0], key[1], "DeleteRoute"), bucket()]
    assert [store.take(other, 1, 0.001, 0) for other in others] == [0, 0, 0]


def test_a_throttled_answer_is_counted_and_empties_our_bucket(store):
    key = bucket()
    assert store.take(key, 5, 0.001, 0) == 0
    store.throttled(key)
    store.throttled(key)
    assert store.take(key, 5, 0.001, 0) > 0
    assert ratebudget.throttle_counts()[key] == 2


def test_the_sizes_are_aws_documented_categories(settings):
    assert ratebudget.bucket_size("DescribeRouteTables") == (100, 20)
    assert ratebudget.bucket_size("DescribeSecurityGroups") == (50, 10)
    assert ratebudget.bucket_size("AuthorizeSecurityGroupIngress") == (50, 5)
    assert ratebudget.bucket_size("CreateRoute") == (50, 5)
    settings.AWS_BUDGET_ACTIONS = {"CreateRoute": (200, 40)}
    assert ratebudget.bucket_size("CreateRoute") == (200, 40)
    # Filtered or paged, the expensive describes count as ordinary reads.
    assert ratebudget.bucket_size("DescribeSecurityGroups", filtered=True) == (100, 20)


@pytest.mark.parametrize(
    ("body", "filtered"),
    [
        ("Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=sg-1", False),
        ("Action=DescribeSecurityGroups&Filter.1.Name=group-id&Filter.1.Value.1=sg-1", True),
        ("Action=DescribeVpcPeeringConnections&MaxResults=1000", True),
        (b"Action=DescribeSecurityGroups", False),
        (None, False),
    ],
)
def test_a_request_is_filtered_when_it_has_a_filter_or_max_results(body, filtered):
    assert ratebudget.is_filtered(body) is filtered


def test_the_portals_security_group_reads_take_from_the_ordinary_read_bucket(
    simulator, settings, store, aws_deployment
):
    # The unfiltered bucket is empty: had the read been unfiltered, it would wait and fail.
    settings.AWS_BUDGET_UNFILTERED_NON_MUTATING = (1, 0.001)
    settings.AWS_BUDGET_MAX_WAIT = 1
    ec2 = vendor_ec2()
    for _ in range(3):  # each would raise AwsUnavailable (OverBudget) if read unfiltered
        ec2.network(aws_deployment.vpc_id, aws_deployment.security_group_id)


def test_every_ec2_request_takes_a_token_and_the_dialog_may_spend_what_workers_leave(
    simulator, settings, store
):
    settings.AWS_BUDGET_ACTIONS = {"DescribeRouteTables": (5, 0.001)}
    settings.AWS_BUDGET_MAX_WAIT = 1
    worker, dialog = vendor_ec2(), aws.Ec2(REGION, VENDOR, interactive=True)
    made = 0
    with pytest.raises(aws.AwsUnavailable) as busy:
        while True:
            worker.route_tables("vpc-0a1b2c3d4e5f60718")
            made += 1
    assert busy.value.code == "OverBudget"
    assert made == 4  # provisioning leaves a fifth of the bucket for the dialog
    dialog.route_tables("vpc-0a1b2c3d4e5f60718")
    with pytest.raises(aws.AwsUnavailable):
        dialog.route_tables("vpc-0a1b2c3d4e5f60718")


def test_request_limit_exceeded_is_counted_and_retried_until_the_attempts_run_out(
    simulator, settings, store, monkeypatch
):
    # AWS (the proxy) allows one DescribeRouteTables and hardly refills; our own budget is
    # far larger, as when something else spends the account's budget too. botocore retries
    # each throttled answer (standard mode: exponential backoff with full jitter).
    settings.AWS_MAX_ATTEMPTS = 3
    with ThrottleProxy(simulator, lambda action, filtered: (1, 0.001)) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        aws._home_client.cache_clear()
        try:
            ec2 = vendor_ec2()
            ec2.route_tables("vpc-0a1b2c3d4e5f60718")
            with pytest.raises(aws.AwsUnavailable) as busy:
                ec2.route_tables("vpc-0a1b2c3d4e5f60718")
        finally:
            aws._home_client.cache_clear()
    assert busy.value.code == "RequestLimitExceeded"
    assert proxy.forwarded["DescribeRouteTables"] == 1
    assert proxy.throttled["DescribeRouteTables"] == 3
    assert ratebudget.throttle_counts()[(VENDOR, REGION, "DescribeRouteTables")] == 3


class FailingStore(ratebudget.DatabaseStore):
    """A store whose Redis or database does not answer: takes (or counts throttling, with
    `only_throttled`) raise, and are counted."""

    def __init__(self, error, only_throttled=False):
        self.error, self.only_throttled = error, only_throttled
        self.failed = 0

    def take(self, bucket, capacity, rate, reserve):
        if self.only_throttled:
            return super().take(bucket, capacity, rate, reserve)
        self.failed += 1
        raise self.error

    def throttled(self, bucket):
        self.failed += 1
        raise self.error


@pytest.mark.parametrize(
    "error", [redis.TimeoutError("Timeout reading from socket"), DatabaseError("gone")]
)
def test_a_failing_budget_store_lets_the_dialogs_check_through(
    client, owner, aws_deployment, monkeypatch, caplog, error
):
    # Fail open: the budget only spares us AWS's throttling; Redis being out must not stop
    # customers from adding peerings while AWS answers.
    request = sandbox.create_customer_request(aws_deployment, cidr="172.16.8.0/24")
    failing = FailingStore(error)
    monkeypatch.setattr(ratebudget, "store", lambda: failing)
    client.force_login(owner)
    with caplog.at_level(logging.WARNING, logger="peerings.ratebudget"), aws_calls() as calls:
        response = client.post(
            reverse("peering-new", args=[aws_deployment.pk]),
            {
                "peering_id": request.peering_id,
                "account_id": request.account_id,
                "vpc_id": request.vpc_id,
            },
        )
    assert response.status_code == 302
    assert PeeringConnection.objects.get().peering_id == request.peering_id
    # Each of the check's EC2 requests asked the store first, and went on without a token.
    assert calls["DescribeRouteTables"] >= 1
    assert failing.failed == calls.total()
    warned = [r for r in caplog.records if "without a token" in r.getMessage()]
    assert len(warned) == failing.failed


def test_a_throttle_count_that_fails_does_not_break_the_call(
    simulator, settings, monkeypatch, caplog
):
    settings.AWS_MAX_ATTEMPTS = 3
    failing = FailingStore(redis.ConnectionError("Connection refused"), only_throttled=True)
    monkeypatch.setattr(ratebudget, "store", lambda: failing)
    with ThrottleProxy(simulator, lambda action, filtered: (1, 0.001)) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        aws._home_client.cache_clear()
        try:
            ec2 = vendor_ec2()
            ec2.route_tables("vpc-0a1b2c3d4e5f60718")
            with (
                caplog.at_level(logging.WARNING, logger="peerings.ratebudget"),
                pytest.raises(aws.AwsUnavailable) as busy,
            ):
                ec2.route_tables("vpc-0a1b2c3d4e5f60718")
        finally:
            aws._home_client.cache_clear()
    # botocore went on retrying as if the count had been kept, and the end is AWS's answer.
    assert busy.value.code == "RequestLimitExceeded"
    assert proxy.throttled["DescribeRouteTables"] == failing.failed == 3
    assert len([r for r in caplog.records if "was not counted" in r.getMessage()]) == 3


def test_the_budgets_redis_gives_up_within_the_dialogs_read_timeout(settings):
    made = ratebudget.RedisStore("redis://127.0.0.1:6379/11", "test-timeouts")
    options = made.redis.connection_pool.connection_kwargs
    for name in ("socket_timeout", "socket_connect_timeout"):
        assert 0 < options[name] < settings.AWS_CHECK_READ_TIMEOUT


def test_reconcile_asks_last(monkeypatch):
    seen = []
    monkeypatch.setattr(
        tasks.services, "queue_reconcile", lambda: seen.append(ratebudget.current_priority())
    )
    tasks.reconcile_peerings()
    assert seen == [Priority.RECONCILE]
    assert ratebudget.current_priority() == Priority.PROVISIONING


def test_retry_rounds_back_off_with_jitter():
    for round_number, ceiling in ((1, 60), (2, 120), (3, 240), (4, 300), (10, 300)):
        delays = {queue.retry_delay(round_number) for _ in range(50)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1  # spread out, not all at the same second
