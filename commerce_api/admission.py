"""Admission: what a worker refuses before it reads a byte of the request body.

- **Overload.** Each worker admits at most ``limit`` requests at once (those running and those
  queued for its request threads); beyond that it answers ``503`` with ``Retry-After`` at once. A
  queue without a bound would let every request wait until its client timed out; a bounded one keeps
  the latency of the admitted requests and tells the others when to come back. ``GET /health`` is
  always admitted (a load balancer asks it whether the worker is alive, not whether it is busy).
- **The limit follows the latency** (additive increase, multiplicative decrease, as TCP's window
  and Netflix's concurrency-limits): a request held longer than ``target`` seconds that was admitted
  after the last cut, while the worker holds at least half its limit, cuts the limit by a quarter
  (never below ``min_inflight``); every request
  answered within ``target`` raises it by ``1/limit`` (about one per round of requests), up to
  ``max_inflight``. Why not a fixed count: how many requests a worker can hold within a latency
  depends on what they are and on what else the machine runs (a load generator, the pipeline,
  a row lock every checkout of a hot SKU waits on); at 5x the sustained rate a fixed 48 let the
  admitted requests' p99 reach 1.3 s, and a fixed 16 already shed at the sustained rate. Only
  requests admitted after a cut may cut again: those admitted before it were slow under the old
  limit and say nothing of the new one (without this, one slow burst collapses the limit). A slow
  request while the worker holds few is not queueing (a slow query, a pause of the database):
  admitting fewer would not make it faster, and it does not cut.
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

    def __init__(self, app: ASGIApp, max_body: int, max_inflight: int, target: float = 0.25,
                 min_inflight: int = 4) -> None:
        self.app, self.max_body, self.max_inflight = app, max_body, max_inflight
        self.target, self.min_inflight = target, min(min_inflight, max_inflight)
        self.limit = float(max_inflight)
        self.inflight = 0
        self._last_cut = 0.0  # perf_counter() of the last cut

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.inflight >= int(self.limit) and scope["path"] != "/health":
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
        answered = None

        async def timed_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":  # how long it was held here, for load tests and proxies
                answered = time.perf_counter()
                message["headers"] = [*message.get("headers", ()),
                                      (b"server-timing", b"app;dur=%.1f" % ((answered - admitted) * 1000))]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.inflight -= 1
            self._adapt(admitted, answered or time.perf_counter())

    def _adapt(self, admitted: float, done: float) -> None:
        """Move the limit by one request admitted at ``admitted`` and answered (its response started) at
        ``done``, perf_counter seconds: a long streamed body is not a slow answer."""
        if done - admitted <= self.target:
            self.limit = min(self.max_inflight, self.limit + 1 / self.limit)
        elif admitted > self._last_cut and self.inflight + 1 >= self.limit / 2:
            self.limit = max(self.min_inflight, self.limit * 0.75)
            self._last_cut = done


async def _refuse(send: Send, status: int, code: str, message: str, retry_after: bool = False) -> None:
    payload = json.dumps(body(code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if retry_after:
        headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
    else:  # the body was not read: the connection cannot carry another request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
