"""A small HTTP proxy in front of the moto server that throttles EC2 as EC2 does: a token
bucket per (access key, region, action), and an HTTP 503 `RequestLimitExceeded` answer
when the bucket is empty (moto itself never throttles). Everything else (other services,
moto's own /moto-api) passes straight through.

Used by the benchmark's burst (bench/burst.py) and by the suite's burst test; it runs in a
thread of the process that starts it and counts what it forwarded and what it refused."""

import http.client
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# AWS Signature V4: Credential=<access key>/<date>/<region>/<service>/aws4_request
CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
THROTTLED_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
    "<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
    "</Error></Errors><RequestID>{request_id}</RequestID></Response>"
)


class Bucket:
    def __init__(self, capacity, rate):
        self.capacity, self.rate = capacity, rate
        self.tokens, self.at = capacity, time.monotonic()

    def take(self):
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class ThrottleProxy:
    """`size_of(action, filtered=…)` gives (capacity, refill per second) of each EC2 action's
    bucket."""

    def __init__(self, target_url: str, size_of: Callable[..., tuple[float, float]]):
        self.target = urlsplit(target_url)
        self.size_of = size_of
        self.buckets: dict[tuple[str, str, str], Bucket] = {}
        self.forwarded: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self.thread.daemon = True

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def admit(self, headers, body):
        """Whether the request may pass: True unless it is an EC2 action whose bucket is
        empty. Counts it either way."""
        match = CREDENTIAL.search(headers.get("Authorization", ""))
        if not match or match.group(3) != "ec2":
            return True
        fields = parse_qs(body.decode("utf-8", "replace"))
        action = fields.get("Action", [""])[0]
        # As EC2 counts them: a filtered or paged describe is an ordinary read.
        filtered = "MaxResults" in fields or any(name.startswith("Filter.") for name in fields)
        key = (match.group(1), match.group(2), action)
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self.buckets[key] = Bucket(*self.size_of(action, filtered=filtered))
            admitted = bucket.take()
            (self.forwarded if admitted else self.throttled)[action] += 1
        return admitted


def _handler_for(proxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            if not proxy.admit(self.headers, body):
                answer = THROTTLED_BODY.format(request_id=uuid.uuid4()).encode()
                self.send_response(503)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                return
            upstream = http.client.HTTPConnection(
                proxy.target.hostname, proxy.target.port, timeout=60
            )
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                content = response.read()
            finally:
                upstream.close()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay  # noqa: N815

        def log_message(self, *args):
            pass

    return Handler
