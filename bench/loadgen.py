"""A small HTTP/1.1 load generator: a fixed number of connections on loopback, each sending
its next request as soon as the previous answer is read. A connection is kept alive when the
server allows it and reopened when the server closes it (gunicorn's sync workers close
after every response), and the reconnect counts in the request's latency. Bounded by a
deadline and by a maximum number of requests."""

import asyncio
import statistics
import time
from dataclasses import dataclass, field

MAX_REQUESTS = 2_000_000


@dataclass
class LoadResult:
    seconds: float
    latencies: list = field(default_factory=list)
    errors: int = 0

    @property
    def requests(self):
        return len(self.latencies)

    @property
    def per_second(self):
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction):
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def p50(self):
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p99(self):
        return self.percentile(0.99)


def _request(host, port, path, cookie):
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "User-Agent: bench-loadgen",
        "Accept: text/html",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _one_connection(host, port, request, deadline, result, limit):
    reader = writer = None
    try:
        while time.monotonic() < deadline and len(result.latencies) + result.errors < limit:
            started = time.perf_counter()
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            headers = head.lower()
            length = None
            marker = headers.find(b"\r\ncontent-length:")
            if marker >= 0:
                end = headers.index(b"\r\n", marker + 2)
                length = int(headers[marker + 17 : end])
            if length is None:
                await reader.read()  # no length: the body runs to the end of the connection
            else:
                await reader.readexactly(length)
            if status == 200:
                result.latencies.append(time.perf_counter() - started)
            else:
                result.errors += 1
            if length is None or b"\r\nconnection: close" in headers:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _load(host, port, path, cookie, connections, seconds, limit):
    request = _request(host, port, path, cookie)
    result = LoadResult(seconds=seconds)
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(
        *(_one_connection(host, port, request, deadline, result, limit) for _ in range(connections))
    )
    result.seconds = time.monotonic() - started
    return result


def run(host, port, path, *, cookie="", connections=8, seconds=10.0, limit=MAX_REQUESTS):
    """Load `path` for `seconds` (at most `limit` requests); only 200 answers are counted
    as requests, anything else as an error."""
    return asyncio.run(_load(host, port, path, cookie, connections, seconds, limit))
