"""Admission: what a worker refuses before it reads a byte of the request body.

- **Overload.** Each worker admits at most ``max_inflight`` requests at once (those running and those
  queued for its request threads); beyond that it answers ``503`` with ``Retry-After`` at once. A
  queue without a bound would let every request wait until its client timed out; a bounded one keeps
  the latency of the admitted requests and tells the others when to come back. ``GET /health`` is
  always admitted (a load balancer asks it whether the worker is alive, not whether it is busy).
  Every admitted response says how long the worker held it (``Server-Timing: app;dur=<ms>``): the
  latency the worker controls, apart from the network's and the client's.
- **Body size.** A body above ``max_body`` bytes is refused (``413``) from its ``Content-Length``:
  a 10 MB event batch would otherwise be read whole into the worker's memory before validation
  could refuse it (the largest legitimate body is an event batch of ``events.MAX_BATCH`` events). A
  body of unknown length (chunked) is refused with ``411``, as its size is only known once read.
"""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commerce_api.errors import body

NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
RETRY_AFTER_SECONDS = 1


class Admission:
    """Pure ASGI middleware (one per worker process, on its event loop: the count needs no lock)."""

    def __init__(self, app: ASGIApp, max_body: int, max_inflight: int) -> None:
        self.app, self.max_body, self.max_inflight = app, max_body, max_inflight
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.inflight >= self.max_inflight and scope["path"] != "/health":
            return await _refuse(send, 503, "overloaded", "the server is at capacity; retry after the pause given",
                                 retry_after=True)
        if scope["method"] not in NO_BODY:
            length = chunked = None
            for name, value in scope["headers"]:
                if name == b"content-length":
                    length = value
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
            if length is None and chunked:
                return await _refuse(send, 411, "length_required", "a request body must declare its Content-Length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                return await _refuse(send, 413, "body_too_large", f"a request body is at most {self.max_body:,} bytes")
        self.inflight += 1
        admitted = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":  # how long it was held here, for load tests and proxies
                elapsed = (time.perf_counter() - admitted) * 1000
                message["headers"] = [*message.get("headers", ()), (b"server-timing", b"app;dur=%.1f" % elapsed)]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.inflight -= 1


async def _refuse(send: Send, status: int, code: str, message: str, retry_after: bool = False) -> None:
    payload = json.dumps(body(code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if retry_after:
        headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
    else:  # the body was not read: the connection cannot carry another request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
