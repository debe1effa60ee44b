"""Counting the AWS API calls a process makes, with botocore's event hooks.

Each watched client appends one line per API call (`call Operation`, botocore's
`before-call`) and one per HTTP attempt (`send Operation`, `before-send`: more sends than
calls means retries) to a file named after the process, so the forked workers of a
django-q2 cluster each write their own file and nothing is lost when they are killed."""

import os
from collections import Counter
from pathlib import Path


class CallLog:
    def __init__(self, directory):
        self.directory = Path(directory)

    def watch(self, client):
        # unique_id: watching the same (cached) client twice must not count its calls twice.
        events = client.meta.events
        events.register("before-call", self._note, unique_id="bench-aws-calls-call")
        events.register("before-send", self._note, unique_id="bench-aws-calls-send")
        return client

    def _note(self, event_name, **kwargs):
        kind, _service, operation = event_name.split(".", 2)
        kind = "call" if kind == "before-call" else "send"
        with (self.directory / f"calls-{os.getpid()}.txt").open("a") as log:
            log.write(f"{kind} {operation}\n")


def read_counts(directory):
    """(calls by operation, HTTP attempts by operation), summed over every process."""
    calls, sends = Counter(), Counter()
    for path in Path(directory).glob("calls-*.txt"):
        for line in path.read_text().splitlines():
            kind, operation = line.split(" ", 1)
            (calls if kind == "call" else sends)[operation] += 1
    return calls, sends
