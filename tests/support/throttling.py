"""EC2 that throttles as EC2 does, for the tests: the benchmark's proxy
(bench/throttleproxy.py) in front of the moto server, with every action's bucket the same
size, and the portal's budget set to match, in this process and in any worker cluster it
starts afterwards (they read the environment)."""

import contextlib

from bench.throttleproxy import ThrottleProxy
from peerings import aws

CATEGORIES = ("NON_MUTATING", "UNFILTERED_NON_MUTATING", "MUTATING", "RESOURCE_INTENSIVE")


@contextlib.contextmanager
def throttling_aws(simulator, monkeypatch, settings, capacity, refill):
    """Yields the proxy (what it forwarded and throttled, by action)."""
    with ThrottleProxy(simulator, lambda action, filtered: (capacity, refill)) as proxy:
        for category in CATEGORIES:
            monkeypatch.setenv(f"AWS_BUDGET_{category}", f"{capacity}/{refill}")
            setattr(settings, f"AWS_BUDGET_{category}", (capacity, refill))
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        aws._home_client.cache_clear()
        try:
            yield proxy
        finally:
            aws._home_client.cache_clear()
