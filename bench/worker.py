"""`manage.py qcluster` with every AWS call the portal makes counted.

Run as `python -m bench.worker` with BENCH_CALLS_DIR set. Every boto3 client the portal
builds goes through `peerings.aws.client` or `peerings.aws._home_client`; both are wrapped
so that each client they return is watched (see bench/awscalls.py). The cluster forks its
workers after this runs, so they inherit the wrapping."""

import os

import django
from django.core.management import call_command

from bench.awscalls import CallLog


def count_aws_calls(aws, call_log):
    home_client, any_client = aws._home_client, aws.client

    def watched_home_client(service, region, interactive=False):
        return call_log.watch(home_client(service, region, interactive))

    def watched_client(service, region, account_id, interactive=False):
        return call_log.watch(any_client(service, region, account_id, interactive))

    watched_home_client.cache_clear = home_client.cache_clear
    aws._home_client = watched_home_client
    aws.client = watched_client


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peering_portal.settings")
    django.setup()
    from peerings import aws

    count_aws_calls(aws, CallLog(os.environ["BENCH_CALLS_DIR"]))
    call_command("qcluster")


if __name__ == "__main__":
    main()
