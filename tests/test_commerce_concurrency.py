"""Races against a real PostgreSQL server through a real HTTP server: no oversell, flash-sale limits
hold, double submits create one order, replayed callbacks pay once."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from commerce_api.inventory import ledger_mismatches


def _stock(w, sku, location):
    rows = w.call("GET", "/inventory", params={"sku": sku, "location_id": location}, expect=200).json()["items"]
    return {k: sum(r[k] for r in rows) for k in ("on_hand", "reserved", "allocated", "available")}


async def _fire(base_url: str, requests: list[tuple[str, str, dict, dict]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=len(requests))
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        return await asyncio.gather(*(client.request(m, p, json=body, headers=h) for m, p, body, h in requests))


def _members(w, n: int) -> list[str]:
    keys = []
    for i in range(n):
        cid = f"RACE{i:03d}"
        w.call("POST", "/customers", json={"id": cid, "member_code": f"R{i:05d}", "region": "east"}, expect=201)
        keys.append(w.call("POST", "/api-keys", json={"role": "shopper", "customer_id": cid}, expect=201).json()["key"])
    return keys


def test_200_concurrent_checkouts_for_50_units_sell_exactly_50(live_pg_world):
    w = live_pg_world
    w.call("POST", "/inventory/receipts", expect=201,
           json={"location_id": "RW-E", "lines": [{"sku": "PHONE-BLK-128", "quantity": 50}]})
    keys = _members(w, 20)
    body = {"channel": "app", "lines": [{"sku": "PHONE-BLK-128", "quantity": 1}]}
    reqs = [("POST", "/orders", body, {"Authorization": f"Bearer {keys[i % 20]}"}) for i in range(200)]
    responses = asyncio.run(_fire(w.base_url, reqs))
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 50, 409: 150}, codes
    assert all(r.json()["error"]["code"] == "out_of_stock" for r in responses if r.status_code == 409)
    assert _stock(w, "PHONE-BLK-128", "RW-E") == {"on_hand": 50, "reserved": 50, "allocated": 0, "available": 0}
    # pay them all concurrently too: every reservation becomes an allocation, nothing more
    created = [(r.json()["id"], r.request.headers["authorization"]) for r in responses if r.status_code == 201]
    w.call("POST", "/customers/C1/stored-value/top-ups", json={"amount": 1, "reference": "warm"}, expect=201)
    pays = [("POST", f"/orders/{oid}/payments", {"method": "alipay"}, {"Authorization": auth}) for oid, auth in created]
    paid = asyncio.run(_fire(w.base_url, pays))
    assert all(r.status_code == 201 for r in paid)
    provider = w.services.payments.providers["alipay"]
    callbacks = []
    for r in paid:
        p = r.json()["payment"]
        raw, sig = provider.callback(p["id"], p["amount"])
        callbacks.append((raw, sig))

    async def deliver():
        async with httpx.AsyncClient(base_url=w.base_url, timeout=120) as client:
            return await asyncio.gather(*(client.post("/payments/callbacks/alipay", content=raw,
                                                      headers={"X-Signature": sig}) for raw, sig in callbacks * 2))
    results = asyncio.run(deliver())  # every callback twice, concurrently: replays change nothing
    assert all(r.status_code == 200 for r in results)
    assert sum(not r.json()["replayed"] for r in results) == 50
    assert _stock(w, "PHONE-BLK-128", "RW-E") == {"on_hand": 50, "reserved": 0, "allocated": 50, "available": 0}
    with w.services.sessions() as s:
        assert ledger_mismatches(s) == []


def test_flash_sale_race_respects_stock_and_per_customer_limit(live_pg_world):
    from datetime import timedelta

    from commerce_api.clock import utcnow

    w = live_pg_world
    now = utcnow()
    w.call("POST", "/skus/CASE-BLK/flash-sales", expect=201, json={
        "price": 100, "starts_at": (now - timedelta(minutes=5)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(), "per_customer_limit": 2})
    w.call("POST", "/inventory/receipts", expect=201,
           json={"location_id": "RW-E", "lines": [{"sku": "CASE-BLK", "quantity": 50}]})
    keys = _members(w, 30)  # 30 members x 5 attempts: 60 allowed by the limits, 50 in stock
    body = {"channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}]}
    reqs = [("POST", "/orders", body, {"Authorization": f"Bearer {k}"}) for k in keys for _ in range(5)]
    responses = asyncio.run(_fire(w.base_url, reqs))
    ok = [r for r in responses if r.status_code == 201]
    assert len(ok) == 50, Counter(r.status_code for r in responses)
    assert {r.json()["error"]["code"] for r in responses if r.status_code != 201} <= {"out_of_stock", "flash_sale_limit"}
    per_member = Counter(r.json()["customer_id"] for r in ok)
    assert max(per_member.values()) <= 2
    assert _stock(w, "CASE-BLK", "RW-E")["available"] == 0


def test_double_submitted_checkout_creates_one_order(live_pg_world):
    w = live_pg_world
    w.call("POST", "/inventory/receipts", expect=201,
           json={"location_id": "RW-E", "lines": [{"sku": "CASE-BLK", "quantity": 10}]})
    body = {"channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}]}
    headers = {"Authorization": f"Bearer {w.keys['shopper']}", "Idempotency-Key": "double-click-1"}
    responses = asyncio.run(_fire(w.base_url, [("POST", "/orders", body, headers)] * 20))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(not r.json()["idempotent_replay"] for r in responses) == 1
    assert _stock(w, "CASE-BLK", "RW-E")["reserved"] == 1
    assert w.call("GET", "/orders", role="shopper", expect=200).json()["total"] == 1


def test_concurrent_two_line_orders_reserve_both_lines_or_neither_without_deadlock(live_pg_world):
    """Two-line orders naming their SKUs in either order race for 30 phones and 40 cases: exactly 30
    get both, the rest a clear 409 (no deadlock between orders locking the same rows), and the cases
    beyond those 30 orders stay free."""
    w = live_pg_world
    w.call("POST", "/inventory/receipts", expect=201, json={"location_id": "RW-E", "lines": [
        {"sku": "PHONE-BLK-128", "quantity": 30}, {"sku": "CASE-BLK", "quantity": 40}]})
    keys = _members(w, 20)
    lines = [{"sku": "PHONE-BLK-128", "quantity": 1}, {"sku": "CASE-BLK", "quantity": 1}]
    reqs = [("POST", "/orders", {"channel": "app", "lines": lines if i % 2 else lines[::-1]},
             {"Authorization": f"Bearer {keys[i % 20]}"}) for i in range(80)]
    responses = asyncio.run(_fire(w.base_url, reqs))
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 30, 409: 50}, codes
    assert all(r.json()["error"]["code"] == "out_of_stock" for r in responses if r.status_code == 409)
    assert all(len(r.json()["lines"]) == 2 for r in responses if r.status_code == 201)
    assert _stock(w, "PHONE-BLK-128", "RW-E") == {"on_hand": 30, "reserved": 30, "allocated": 0, "available": 0}
    assert _stock(w, "CASE-BLK", "RW-E") == {"on_hand": 40, "reserved": 30, "allocated": 0, "available": 10}
    with w.services.sessions() as s:
        assert ledger_mismatches(s) == []
