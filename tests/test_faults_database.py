"""PostgreSQL goes away under load: the API (``commerce_api.serve``, two workers) on a server of the
test's own, restarted (fast shutdown) and later stopped for 30 s while clients place, pay and confirm
orders. Every request either succeeds or gets a retryable ``503`` with ``Retry-After``, at once; a
retry with the same idempotency key succeeds exactly once; the ledgers balance and no reservation
leaks; the API reconnects by itself and its sweeper catches up."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from commerce_api.clock import utcnow
from commerce_api.db import transaction
from commerce_api.inventory import ledger_mismatches
from commerce_api.loyalty import balance_mismatches
from tests.commerce_fixtures import World, make_world
from tests.pg_cluster import PgCluster, create_cluster, remove_cluster
from tests.test_commerce_serve import _start

STOCK = 2_000  # more than the shoppers buy in the test's seconds (a faster machine sold 400 out)


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    c = create_cluster()
    yield c
    remove_cluster(c)


@pytest.fixture
def served(cluster, tmp_path, monkeypatch) -> Iterator[tuple[World, str]]:
    """The seeded retailer on the test's server, and the API serving it with two workers (sweeping
    expired reservations every second)."""
    monkeypatch.setenv("COMMERCE_SWEEP_INTERVAL", "1")
    w = make_world(cluster.url, tmp_path)
    w.call("POST", "/inventory/receipts", expect=201,
           json={"location_id": "RW-E", "lines": [{"sku": "CASE-BLK", "quantity": STOCK}]})
    proc, port = _start(tmp_path, 2, cluster.url)
    try:
        yield w, f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        w.client.close()
        w.services.sessions.kw["bind"].dispose()


@dataclass
class Load:
    """Shoppers buying one case each: order, pay, the provider's callback; each step retried with its
    idempotency key (or, for the callback, the same signed body) until it answers for good."""

    w: World
    base_url: str
    stop: threading.Event = field(default_factory=threading.Event)
    calls: list[tuple[float, str, int, str | None, float]] = field(default_factory=list)  # at, step, status, retry-after, s
    orders: dict[str, str] = field(default_factory=dict)  # idempotency key -> order id
    paid: set[str] = field(default_factory=set)
    gave_up: int = 0
    errors: list[BaseException] = field(default_factory=list)  # a thread's failed assertion, for the test

    def _until_final(self, client: httpx.Client, step: str, send) -> httpx.Response | None:
        for _ in range(200):
            started = time.monotonic()
            try:
                r = send()
            except httpx.TransportError:  # the connection itself dropped: retry as for a 503
                self.calls.append((started, step, 0, None, time.monotonic() - started))
                time.sleep(0.2)
                continue
            self.calls.append((started, step, r.status_code, r.headers.get("Retry-After"), time.monotonic() - started))
            if r.status_code != 503:
                return r
            time.sleep(min(float(r.headers.get("Retry-After", "1")), 1.0) / 2)
        self.gave_up += 1
        return None

    def shopper(self, api_key: str) -> None:
        try:
            self._shop(api_key)
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which fails with it
            self.errors.append(exc)
            self.stop.set()

    def _shop(self, api_key: str) -> None:
        provider = self.w.services.payments.providers["alipay"]
        with httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10) as c:
            while not self.stop.is_set():
                key = uuid.uuid4().hex
                r = self._until_final(c, "order", lambda k=key: c.post("/orders", headers={"Idempotency-Key": k}, json={
                    "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}]}))
                if r is None:
                    continue
                if r.status_code == 409:  # out of stock: a final answer (the totals below show none oversold);
                    time.sleep(0.05)      # a shopper does not hammer it (the key's write rate would refuse)
                    continue
                assert r.status_code == 201, r.text
                order_id = r.json()["id"]
                assert self.orders.setdefault(key, order_id) == order_id
                r = self._until_final(c, "pay", lambda o=order_id, k=key: c.post(
                    f"/orders/{o}/payments", headers={"Idempotency-Key": f"{k}-pay"}, json={"method": "alipay"}))
                if r is None:
                    continue
                assert r.status_code == 201, r.text
                payment = r.json()["payment"]
                body, signature = provider.callback(payment["id"], payment["amount"])
                r = self._until_final(c, "callback", lambda b=body, s=signature: c.post(
                    "/payments/callbacks/alipay", content=b, headers={"X-Signature": s}))
                if r is not None and r.status_code == 200:
                    self.paid.add(order_id)

    def run(self, fault, clients: int = 6, before: float = 3.0, after: float = 6.0) -> tuple[float, float]:
        """``clients`` shoppers for ``before`` seconds, then ``fault()``, then ``after`` seconds more;
        returns when the fault began and ended (monotonic)."""
        # a key of its own per shopper (each shopper key has its write rate: commerce_api.rate_limit)
        keys = [self.w.call("POST", "/api-keys", expect=201, json={"role": "shopper", "customer_id": f"C{i % 3 + 1}"}
                            ).json()["key"] for i in range(clients)]
        threads = [threading.Thread(target=self.shopper, args=(key,)) for key in keys]
        for t in threads:
            t.start()
        time.sleep(before)
        began = time.monotonic()
        fault()
        ended = time.monotonic()
        time.sleep(after)
        self.stop.set()
        for t in threads:
            t.join(timeout=120)
        if self.errors:
            raise self.errors[0]
        self.w.services.sessions.kw["bind"].dispose()  # the test's own pool: its connections died with the server
        return began, ended


def _check_nothing_lost(load: Load, cancelled: frozenset[str] = frozenset()) -> None:
    """Each order once per key, each paid order allocated, ``cancelled`` cancelled with its stock back,
    the stock and points ledgers balanced."""
    w = load.w
    assert load.gave_up == 0
    assert len(set(load.orders.values())) == len(load.orders) > 20
    with transaction(w.services.sessions) as s:
        statuses = dict(s.execute(text("SELECT id, status FROM orders")).all())
        assert ledger_mismatches(s) == [] and balance_mismatches(s) == []
        keyed = s.execute(text("SELECT count(*) FROM idempotency_keys WHERE endpoint = 'POST /orders'")).scalar()
    assert keyed == len(load.orders)
    assert set(statuses) == set(load.orders.values()) | cancelled  # no order half-written, none twice
    assert load.paid == set(load.orders.values()) and all(statuses[o] == "allocated" for o in load.paid)
    assert all(statuses[o] == "cancelled" for o in cancelled)
    stock = w.call("GET", "/inventory", params={"sku": "CASE-BLK", "location_id": "RW-E"}, expect=200).json()["items"]
    totals = {k: sum(r[k] for r in stock) for k in ("on_hand", "reserved", "allocated")}
    # every order paid, so every reservation became an allocation; none leaked
    assert totals == {"on_hand": STOCK, "reserved": 0, "allocated": len(load.orders)}, totals


def _summary(load: Load) -> Counter:
    return Counter((step, status) for _, step, status, _, _ in load.calls)


def test_a_database_restart_mid_load_loses_nothing_and_the_api_reconnects_by_itself(served, cluster):
    w, base_url = served
    load = Load(w, base_url)
    began, ended = load.run(cluster.restart)
    print(f"restart took {ended - began:.2f}s; {_summary(load)}")
    assert {status for _, _, status, _, _ in load.calls} <= {0, 200, 201, 409, 503}
    assert all(retry is not None for _, _, status, retry, _ in load.calls if status == 503)
    failed = [c for c in load.calls if c[2] in (0, 503)]
    assert failed, "the restart did not reach any request"
    # answered in time, and back to normal within seconds of the server being up again
    assert max(seconds for *_, seconds in load.calls) < 10
    assert all(c[0] < ended + 3 for c in failed), [c for c in failed if c[0] >= ended + 3]
    assert sum(c[0] >= ended + 3 for c in load.calls) > 50
    _check_nothing_lost(load)


def test_a_30_second_outage_answers_503_at_once_and_everything_catches_up(served, cluster):
    w, base_url = served
    # an order left unpaid before the outage, its reservation ending during it: the sweeper, which
    # keeps trying through the outage, cancels it afterwards and gives its case back
    leftover = w.call("POST", "/orders", role="shopper", expect=201, json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}]}).json()["id"]
    with transaction(w.services.sessions) as s:
        s.execute(text("UPDATE orders SET reserved_until = :t WHERE id = :id"),
                  {"t": utcnow() + timedelta(seconds=5), "id": leftover})
    load = Load(w, base_url)

    def outage() -> None:
        cluster.stop()
        time.sleep(30)
        cluster.start()

    began, ended = load.run(outage, before=2.0, after=8.0)
    during = [c for c in load.calls if began + 1 < c[0] < ended - 1]
    print(f"outage {ended - began:.1f}s: {len(during)} requests during it; {_summary(load)}")
    assert len(during) > 100 and {c[2] for c in during} == {503}
    assert all(c[3] is not None for c in during)
    assert max(c[4] for c in during) < 2.0, "a request hung while the database was down"
    assert all(c[2] not in (0, 503) for c in load.calls if c[0] > ended + 3)
    deadline = time.monotonic() + 20
    while (status := w.call("GET", f"/orders/{leftover}", expect=200).json()["status"]) != "cancelled":
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    _check_nothing_lost(load, cancelled=frozenset({leftover}))
