"""The admission limit follows the latency of what a worker admits (``commerce_api.admission``).

Driven on its own event loop with an app whose answers take a set time (``/slow`` 100 ms, ``/fast``
none), so each step of the controller can be seen: how many of a burst it admits, how the limit
moves. The whole API under overload is measured by ``bench/soak.py``; the 503 of a served worker
by ``tests/test_commerce_hardening.py``."""

from __future__ import annotations

import asyncio

from commerce_api.admission import Admission

SLOW_SECONDS, TARGET = 0.1, 0.05


async def _app(scope, receive, send) -> None:
    await asyncio.sleep(SLOW_SECONDS if scope["path"] == "/slow" else 0)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _request(gate: Admission, path: str) -> int:
    statuses: list[int] = []

    async def send(message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    await gate({"type": "http", "method": "GET", "path": path, "headers": []}, receive, send)
    return statuses[0]


def _burst(gate: Admission, path: str, n: int) -> list[int]:
    """``n`` requests arriving at once; their statuses."""
    async def burst() -> list[int]:
        return list(await asyncio.gather(*(_request(gate, path) for _ in range(n))))
    return asyncio.run(burst())


def _one_by_one(gate: Admission, path: str, n: int) -> list[int]:
    async def serial() -> list[int]:
        return [await _request(gate, path) for _ in range(n)]
    return asyncio.run(serial())


def test_slow_answers_under_load_cut_the_limit_once_per_round_and_fast_ones_restore_it():
    gate = Admission(_app, max_body=1000, max_inflight=20, target=TARGET)
    first = _burst(gate, "/slow", 30)
    assert first.count(200) == 20 and first.count(503) == 10  # the ceiling, then shed at once
    # twenty slow answers, all admitted before the first cut: one cut, not twenty
    assert gate.limit == 15
    second = _burst(gate, "/slow", 30)
    assert second.count(200) == 15 and gate.limit == 15 * 0.75
    for _ in range(6):
        _burst(gate, "/slow", 30)
    assert gate.limit == 4  # the floor: a worker always admits a few
    assert _burst(gate, "/slow", 30).count(200) == 4
    _one_by_one(gate, "/fast", 300)  # answered within the target: +1/limit each
    assert gate.limit == 20
    assert _burst(gate, "/fast", 30).count(200) == 20


def test_a_slow_answer_while_the_worker_holds_few_requests_does_not_cut():
    """A slow query on a quiet worker is not queueing: admitting fewer would not speed it up."""
    gate = Admission(_app, max_body=1000, max_inflight=20, target=TARGET)
    assert _one_by_one(gate, "/slow", 5) == [200] * 5
    assert _burst(gate, "/slow", 5) == [200] * 5  # 5 held at once, under half the limit
    assert gate.limit == 20


def test_health_is_admitted_whatever_the_limit():
    gate = Admission(_app, max_body=1000, max_inflight=20, target=TARGET)
    for _ in range(8):
        _burst(gate, "/slow", 30)
    assert gate.limit == 4

    async def full_then_health() -> tuple[list[int], int]:
        held = [asyncio.create_task(_request(gate, "/slow")) for _ in range(4)]
        await asyncio.sleep(0.01)
        health = await _request(gate, "/health")
        return list(await asyncio.gather(*held)), health

    held, health = asyncio.run(full_then_health())
    assert held == [200] * 4 and gate.inflight == 0 and health == 200
