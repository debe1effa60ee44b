"""Server time and SQL queries of a page, measured in-process: Django's test Client sends
the request through the whole middleware stack, URL resolution, view and template, just as
gunicorn would hand it over, without the network. Pages measured together are interleaved
(a, b, a, b, …) so that a slow moment of the machine hits them alike."""

import statistics
import time
from dataclasses import dataclass

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

WARM_UP = 3


@dataclass
class PageTiming:
    name: str
    seconds: float
    queries: int
    kilobytes: float

    @property
    def ms(self):
        return self.seconds * 1000


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def api_client_for(organization, user):
    """A client of the REST API, with a member key of `organization` made by `user`."""
    from api import keys

    _key, secret = keys.create_key(
        organization, name="bench", role="member", expires_at=None, user=user
    )
    return Client(headers={"Authorization": f"Bearer {secret}"})


def _check(response, url, expect):
    if response.status_code != 200 or expect.encode() not in response.content:
        raise RuntimeError(f"GET {url}: {response.status_code}, expected 200 with {expect!r}")
    return response


def measure(pages, runs, profile_dir=None):
    """pages: {name: (client, url, text the page must contain)}. Returns {name: PageTiming}
    with the median time of `runs` requests and the query count of one more. With
    `profile_dir`, also writes a pyinstrument profile of `runs` more requests per page."""
    queries, sizes = {}, {}
    for name, (client, url, expect) in pages.items():
        for _ in range(WARM_UP):
            _check(client.get(url), url, expect)
        with CaptureQueriesContext(connection) as captured:
            sizes[name] = len(_check(client.get(url), url, expect).content) / 1024
        queries[name] = len(captured)
    times = {name: [] for name in pages}
    for _ in range(runs):
        for name, (client, url, expect) in pages.items():
            started = time.perf_counter()
            response = client.get(url)
            times[name].append(time.perf_counter() - started)
            _check(response, url, expect)
    if profile_dir:
        _profile(pages, runs, profile_dir)
    return {
        name: PageTiming(name, statistics.median(times[name]), queries[name], sizes[name])
        for name in pages
    }


def _profile(pages, runs, directory):
    from pyinstrument import Profiler

    for name, (client, url, _expect) in pages.items():
        profiler = Profiler(interval=0.0005)
        with profiler:
            for _ in range(runs):
                client.get(url)
        (directory / f"profile-{name}.html").write_text(profiler.output_html())
