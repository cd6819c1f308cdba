"""Soak and overload of the commerce API (not a test), on PostgreSQL over loopback.

    python bench/soak.py [--minutes 10] [--workers 2]

Mixed traffic of a shop on a peak day, offered open-loop (sessions start on a schedule, whether or
not earlier ones have finished): browsing, prices, recommendations, stock look-ups, carts checked
out and paid from stored value, orders paid by a provider with its signed callback (some with a
limited coupon, some of a hot SKU with little stock), event batches, and delivered orders returned.

1. **Ramp**: 20 s steps of rising offered sessions/s; the highest step with p99 < 500 ms and no
   error is the sustainable rate of this machine (API, PostgreSQL and this load generator share
   its 2 cores).
2. **Soak** at that rate for ``--minutes``; half-way, the pipeline runs once (``smartmall run`` on a
   small synthetic retailer, reading this API's database: the commerce loop), niced. ``--rate``
   soaks at a given rate instead of the ramp's (the ramp runs without the pipeline).
3. **Overload** at 5x for 60 s, offered by 4 forked processes (one Python process's threads could not
   start the sessions on time, and their GIL inflated the client-side times), every HTTP client
   built before the clock starts; a separate probe process reads 10 times a second meanwhile (an
   ordinary shopper's view of the overload). Then 30 s back at 1x (recovery).
4. **Invariants**: no stock row oversold or negative, the stock ledger rebuilds every level, points
   balances match their ledger, the coupon's total and per-member limits held, every paid order's
   payments add up to what it was paid.

Per phase: sessions and requests per second, error rate (5xx and transport errors; 503/429 count as
shed), p50/p99 per endpoint, and the resident memory of the API's processes and PostgreSQL's at the
start and end of the soak. Writes ``bench/results/soak.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import queue
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from commerce_api.signing import SECRET_VARS  # noqa: E402

for _var in SECRET_VARS.values():  # this run's own signing secrets (the servers it starts inherit them)
    os.environ.setdefault(_var, secrets.token_urlsafe(32))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.api_load import _admin_url, _drop_db, _fresh_db  # noqa: E402
from commerce_api.db import transaction  # noqa: E402
from commerce_api.inventory import ledger_mismatches  # noqa: E402
from commerce_api.loyalty import balance_mismatches  # noqa: E402
from tests.commerce_fixtures import World, make_world  # noqa: E402
from tests.test_commerce_serve import _start  # noqa: E402

CUSTOMERS, HOT_SKU, HOT_STOCK = 200, "CASE-BLK", 3000
SKUS = ("PHONE-BLK-128", "PHONE-WHT-256", "CASE-BLK")
COUPON, COUPON_LIMIT, COUPON_PER_MEMBER = "SOAK10", 400, 3
MIX = {"browse": 30, "price": 10, "recommend": 15, "stock": 5, "cart": 10, "order": 12, "events": 10, "return": 8}
RAMP = (10, 20, 40, 60, 80, 110, 150)  # offered sessions per second
P99_TARGET = 0.5


class Shop:
    """The seeded retailer, and one session of each kind against the served API."""

    def __init__(self, w: World, base_url: str) -> None:
        self.w, self.base_url = w, base_url
        self.provider = w.services.payments.providers["alipay"]
        self.shoppers: list[tuple[str, str]] = []  # (customer id, API key)

    def seed(self) -> None:
        w = self.w
        w.call("POST", "/inventory/receipts", expect=201, json={"location_id": "RW-E", "lines": [
            {"sku": sku, "quantity": HOT_STOCK if sku == HOT_SKU else 100_000} for sku in SKUS]})
        w.call("POST", "/coupon-definitions", role="marketer", expect=201, json={
            "code": COUPON, "name": "soak 10 off", "starts_at": "2020-01-01T00:00:00Z",
            "ends_at": "2099-01-01T00:00:00Z", "usage_limit": COUPON_LIMIT, "per_customer_limit": COUPON_PER_MEMBER,
            "rule": {"kind": "amount_off", "value": 1000}})
        for i in range(CUSTOMERS):
            cid = f"S{i:04d}"
            w.call("POST", "/customers", expect=201, json={"id": cid, "member_code": f"SM{i:05d}", "region": "east"})
            w.call("POST", f"/customers/{cid}/stored-value/top-ups", role="service", expect=201,
                   json={"amount": 10**9, "reference": f"soak-{cid}"})
            key = w.call("POST", "/api-keys", expect=201, json={"role": "shopper", "customer_id": cid}).json()["key"]
            self.shoppers.append((cid, key))

    # -- sessions: each a few calls through ``call`` (which records them)
    def browse(self, call) -> None:
        call("GET", "/products", "service", params={"limit": 20})
        call("GET", f"/products/{random.choice(['P-PHONE', 'P-CASE', 'P-MILK'])}", "service")

    def price(self, call) -> None:
        call("GET", f"/skus/{random.choice(SKUS)}/price", "service", params={"channel": "app"})

    def recommend(self, call) -> None:
        cid, key = random.choice(self.shoppers)
        call("GET", f"/customers/{cid}/recommendations", key)
        call("GET", f"/products/{random.choice(SKUS)}/related", key)

    def stock(self, call) -> None:
        call("GET", "/inventory", "service", params={"sku": random.choice(SKUS)})

    def cart(self, call) -> None:
        cid, key = random.choice(self.shoppers)
        r = call("POST", "/carts", key, json={"channel": "app"})
        if r is None or r.status_code != 201:
            return
        cart = r.json()["id"]
        for sku in random.sample(SKUS[:2], 2):
            call("PUT", f"/carts/{cart}/lines/{sku}", key, json={"quantity": 1})
        r = call("POST", f"/carts/{cart}/checkout", key, json={}, idempotent=True)
        if r is not None and r.status_code == 201:
            call("POST", f"/orders/{r.json()['id']}/payments", key, json={"method": "stored_value"}, idempotent=True)

    def order(self, call) -> None:
        cid, key = random.choice(self.shoppers)
        body = {"channel": "app", "lines": [{"sku": HOT_SKU if random.random() < 0.5 else SKUS[0], "quantity": 1}]}
        if random.random() < 0.3:
            body["coupon_code"] = COUPON
        r = call("POST", "/orders", key, json=body, idempotent=True)
        if r is None or r.status_code != 201:
            return
        r = call("POST", f"/orders/{r.json()['id']}/payments", key, json={"method": "alipay"}, idempotent=True)
        if r is None or r.status_code != 201:
            return
        payment = r.json()["payment"]
        raw, signature = self.provider.callback(payment["id"], payment["amount"])
        call("POST", "/payments/callbacks/alipay", None, content=raw, headers={"X-Signature": signature})

    def events(self, call) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        batch = [{"event_id": uuid.uuid4().hex, "event": random.choice(["Product Viewed", "Product Added"]),
                  "occurred_at": now, "anonymous_id": uuid.uuid4().hex[:12], "sku": random.choice(SKUS)}
                 for _ in range(20)]
        call("POST", "/events", "service", json=batch)

    def returns(self, call) -> None:
        cid, key = random.choice(self.shoppers)
        r = call("POST", "/orders", key, json={"channel": "app", "lines": [{"sku": SKUS[1], "quantity": 2}]},
                 idempotent=True)
        if r is None or r.status_code != 201:
            return
        order = r.json()["id"]
        r = call("POST", f"/orders/{order}/payments", key, json={"method": "stored_value"}, idempotent=True)
        if r is None or r.status_code != 201:
            return
        r = call("POST", f"/orders/{order}/ship", "service", json={})
        if r is None or r.status_code != 200:
            return
        for shipment in r.json()["shipments"]:
            call("POST", f"/simulator/shipments/{shipment['waybill']}", "service", json={"status": "delivered"})
        call("POST", f"/orders/{order}/returns", key, json={"lines": [{"line_number": 1, "quantity": 1}]})


class _Shed(Exception):
    """The API answered 503 or 429 with Retry-After: the session ends there."""


class Load:
    """Open-loop offered load: a scheduler enqueues sessions at ``rate`` a second; ``threads`` clients
    run them. Every call is recorded as (phase, endpoint, status, seconds), status 0 for a transport
    error; a session that starts more than 1 s after its slot counts as the generator lagging."""

    def __init__(self, shop: Shop, threads: int = 96) -> None:
        self.shop, self.threads = shop, threads
        self.calls: list[tuple[str, str, int, float, float | None]] = []  # ..., client s, server s
        self.lagging: dict[str, int] = defaultdict(int)
        self.sessions: dict[str, int] = defaultdict(int)
        self.offered: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()
        self.keys = {role: shop.w.keys[role] for role in ("service", "marketer", "admin")}

    def run(self, phase: str, rate: float, seconds: float, threads: int | None = None) -> dict:
        """Offer ``rate`` sessions a second for ``seconds``. A session whose slot passed more than 1 s
        before a client was free is skipped and counted (``generator_lagging_sessions``): the
        generator never builds a backlog that would spill into the next phase."""
        work: queue.Queue = queue.Queue()
        stop = threading.Event()
        kinds, weights = list(MIX), list(MIX.values())
        sessions = {"browse": self.shop.browse, "price": self.shop.price, "recommend": self.shop.recommend,
                    "stock": self.shop.stock, "cart": self.shop.cart, "order": self.shop.order,
                    "events": self.shop.events, "return": self.shop.returns}

        n_threads = threads or self.threads
        ready = threading.Barrier(n_threads + 1)

        def client() -> None:
            with httpx.Client(base_url=self.shop.base_url, timeout=10,
                              limits=httpx.Limits(max_keepalive_connections=1)) as c:
                ready.wait()
                while not stop.is_set():
                    try:
                        due, kind = work.get(timeout=0.1)
                    except queue.Empty:
                        continue
                    if time.monotonic() - due > 1.0:
                        with self.lock:
                            self.lagging[phase] += 1
                        continue
                    with contextlib.suppress(_Shed):  # told to come back later: this shopper leaves, as one would
                        sessions[kind](lambda *a, **kw: self._call(c, phase, *a, **kw))
                    with self.lock:
                        self.sessions[phase] += 1

        workers = [threading.Thread(target=client, daemon=True) for _ in range(n_threads)]
        for t in workers:
            t.start()
        # the clients are built before the first session is offered: building 400 (each loads the CA
        # bundle) took the CPU from the API for the first two seconds of the overload
        ready.wait()
        started = time.monotonic()
        n = 0
        while (now := time.monotonic()) < started + seconds:
            due = started + n / rate
            if due > now:
                time.sleep(min(due - now, 0.05))
                continue
            work.put((due, random.choices(kinds, weights)[0]))
            n += 1
        stop.set()
        for t in workers:
            t.join(timeout=30)
        self.lagging[phase] += work.qsize()
        self.offered[phase] += n
        return summarise([c for c in self.calls if c[0] == phase], time.monotonic() - started, n,
                         self.sessions[phase], self.lagging[phase])

    def run_in_processes(self, phase: str, rate: float, seconds: float, threads: int, processes: int) -> dict:
        """``run`` split over ``processes`` forked processes, each offering its share of ``rate`` from
        its share of ``threads``: one interpreter's lock shared by hundreds of client threads would
        delay them after their answers arrive, and those delays would be counted as the API's."""
        global _FORKED
        _FORKED = self
        started = time.monotonic()
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            parts = pool.starmap(_run_forked, [(phase, rate / processes, seconds, threads // processes)] * processes)
        for calls, sessions, lagging, offered in parts:
            self.calls.extend(calls)
            self.sessions[phase] += sessions
            self.lagging[phase] += lagging
            self.offered[phase] += offered
        return summarise([c for c in self.calls if c[0] == phase], time.monotonic() - started,
                         self.offered[phase], self.sessions[phase], self.lagging[phase])


    def _call(self, c: httpx.Client, phase: str, method: str, path: str, who: str | None, *,
              idempotent: bool = False, **kw) -> httpx.Response | None:
        headers = kw.pop("headers", {})
        if who is not None:
            headers["Authorization"] = f"Bearer {self.keys.get(who, who)}"
        if idempotent:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        endpoint = f"{method} {_template(path)}"
        started = time.monotonic()
        try:
            r = c.request(method, path, headers=headers, **kw)
        except httpx.TransportError:
            r = None
        seconds = time.monotonic() - started
        timing = r.headers.get("server-timing", "") if r is not None else ""
        server = float(timing.split("dur=")[1]) / 1000 if "dur=" in timing else None
        with self.lock:
            self.calls.append((phase, endpoint, r.status_code if r is not None else 0, seconds, server))
        if r is not None and r.status_code in (429, 503):
            raise _Shed
        return r


_FORKED: Load | None = None  # the Load a forked process runs its share of


def _run_forked(phase: str, rate: float, seconds: float, threads: int) -> tuple[list, int, int, int]:
    random.seed()  # a fork inherits the parent's random state: each process draws its own sessions
    load = _FORKED
    load.run(phase, rate, seconds, threads)
    return ([c for c in load.calls if c[0] == phase], load.sessions[phase], load.lagging[phase],
            load.offered[phase])


NAMED = {"products": "id", "skus": "sku", "customers": "id", "carts": "id", "orders": "id", "shipments": "waybill",
         "lines": "sku", "callbacks": "provider"}


def _template(path: str) -> str:
    """``/orders/3f2.../payments`` -> ``/orders/{id}/payments``: latencies are kept per route."""
    parts = path.split("/")
    for i in range(2, len(parts)):
        if parts[i - 1] in NAMED:
            parts[i] = "{" + NAMED[parts[i - 1]] + "}"
    return "/".join(parts)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def summarise(calls: list[tuple[str, str, int, float, float | None]], seconds: float, offered: int, done: int,
              lagging: int) -> dict:
    """Rates, shed and error shares, and p50/p99 of the answered calls as the client saw them and as
    the API's workers held them (``Server-Timing``), overall and per endpoint."""
    answered = [c for c in calls if c[2] not in (0, 503, 429) and c[2] < 500]
    shed = sum(c[2] in (503, 429) for c in calls)
    errors = sum(c[2] == 0 or (c[2] >= 500 and c[2] != 503) for c in calls)
    by_endpoint: dict[str, list[float]] = defaultdict(list)
    held_by_endpoint: dict[str, list[float]] = defaultdict(list)
    for _, endpoint, _, s, server in answered:
        by_endpoint[endpoint].append(s)
        if server is not None:
            held_by_endpoint[endpoint].append(server)
    held = [c[4] for c in answered if c[4] is not None]
    return {
        "seconds": round(seconds, 1), "offered_sessions_per_s": round(offered / seconds, 1),
        "sessions_done": done, "generator_lagging_sessions": lagging,
        "requests_per_s": round(len(calls) / seconds, 1), "accepted_per_s": round(len(answered) / seconds, 1),
        "shed_share": round(shed / len(calls), 4) if calls else 0.0,
        "error_share": round(errors / len(calls), 5) if calls else 0.0,
        "p50_ms": round(_quantile([c[3] for c in answered], 0.5) * 1000, 1),
        "p99_ms": round(_quantile([c[3] for c in answered], 0.99) * 1000, 1),
        "server_p50_ms": round(_quantile(held, 0.5) * 1000, 1), "server_p99_ms": round(_quantile(held, 0.99) * 1000, 1),
        "statuses": dict(sorted(_count(c[2] for c in calls).items())),
        "endpoints": {e: {"n": len(v), "p50_ms": round(_quantile(v, 0.5) * 1000, 1),
                          "p99_ms": round(_quantile(v, 0.99) * 1000, 1),
                          "server_p99_ms": round(_quantile(held_by_endpoint[e], 0.99) * 1000, 1)}
                      for e, v in sorted(by_endpoint.items())},
    }


def _count(items) -> dict:
    out: dict = defaultdict(int)
    for item in items:
        out[item] += 1
    return out


def resident_mb(pids: list[int]) -> dict[str, float]:
    """VmRSS of each process, MB, by 'name pid'."""
    out = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        out[f"{name} {pid}"] = round(rss / 1024, 1)
    return out


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def _postgres_pids() -> list[int]:
    return [int(p) for p in subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout.split()]


def _slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB), MB a second."""
    if len(samples) < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / len(samples)
    mean_m = sum(m for _, m in samples) / len(samples)
    return sum((t - mean_t) * (m - mean_m) for t, m in samples) / sum((t - mean_t) ** 2 for t, _ in samples)


def invariants(w: World) -> dict:
    with transaction(w.services.sessions) as s:
        bad_stock = s.execute(text(
            "SELECT count(*) FROM stock_levels WHERE on_hand < 0 OR reserved < 0 OR allocated < 0 "
            "OR reserved + allocated > on_hand")).scalar_one()
        coupon = s.execute(text("SELECT used, usage_limit FROM coupon_definitions WHERE code = :c"),
                           {"c": COUPON}).one()
        per_member = s.execute(text(
            "SELECT coalesce(max(uses), 0) FROM coupon_uses u JOIN coupon_definitions d ON d.id = u.definition_id "
            "WHERE d.code = :c"), {"c": COUPON}).scalar_one()
        payments_off = s.execute(text(
            "SELECT count(*) FROM orders o LEFT JOIN (SELECT order_id, sum(amount) AS paid FROM payments "
            "WHERE status IN ('succeeded', 'refunded') GROUP BY 1) p ON p.order_id = o.id "
            "WHERE o.paid <> coalesce(p.paid, 0)")).scalar_one()
        hot = s.execute(text("SELECT sum(on_hand), sum(reserved), sum(allocated) FROM stock_levels WHERE sku = :s"),
                        {"s": HOT_SKU}).one()
        orders = dict(s.execute(text("SELECT status, count(*) FROM orders GROUP BY 1")).all())
        result = {
            "stock_rows_oversold_or_negative": bad_stock, "stock_ledger_mismatches": len(ledger_mismatches(s)),
            "points_balance_mismatches": len(balance_mismatches(s)),
            "coupon_used": coupon[0], "coupon_limit": coupon[1], "coupon_max_uses_by_one_member": per_member,
            "orders_whose_payments_differ_from_paid": payments_off,
            "hot_sku_on_hand_reserved_allocated": [int(x or 0) for x in hot], "orders_by_status": orders,
        }
    result["all_hold"] = (bad_stock == 0 and not result["stock_ledger_mismatches"]
                          and not result["points_balance_mismatches"] and coupon[0] <= coupon[1]
                          and per_member <= COUPON_PER_MEMBER and payments_off == 0)
    return result


PROBES = (("/products", {"limit": 20}), (f"/skus/{SKUS[0]}/price", {"channel": "app"}), ("/inventory", {"sku": SKUS[1]}))


def probe(base_url: str, key: str, start_at: float, seconds: float, rate: float = 10) -> dict:
    """Browse and price reads at ``rate`` a second from ``start_at`` (epoch seconds) for ``seconds``,
    from four threads of this process alone: the latency a shopper sees, apart from the load
    generator's own delays (its hundreds of threads wait for one interpreter lock, so the times it
    records include time its threads waited to run). Shed answers are counted, not timed."""
    time.sleep(max(0.0, start_at - time.time()))
    slots: queue.Queue = queue.Queue()
    calls: list[tuple[int, float, float | None]] = []

    def client() -> None:
        with httpx.Client(base_url=base_url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as c:
            while (i := slots.get()) is not None:
                path, params = PROBES[i % len(PROBES)]
                started = time.monotonic()
                try:
                    r = c.get(path, params=params)
                except httpx.TransportError:
                    calls.append((0, time.monotonic() - started, None))
                    continue
                timing = r.headers.get("server-timing", "")
                calls.append((r.status_code, time.monotonic() - started,
                              float(timing.split("dur=")[1]) / 1000 if "dur=" in timing else None))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    started = time.monotonic()
    for i in range(int(seconds * rate)):
        time.sleep(max(0.0, started + i / rate - time.monotonic()))
        slots.put(i)
    for _ in threads:
        slots.put(None)
    for t in threads:
        t.join()
    answered = [c for c in calls if c[0] == 200]
    return {"sent": len(calls), "answered": len(answered), "shed": sum(c[0] in (429, 503) for c in calls),
            "errors": sum(c[0] == 0 or c[0] >= 500 and c[0] != 503 for c in calls),
            "p50_ms": round(_quantile([c[1] for c in answered], 0.5) * 1000, 1),
            "p99_ms": round(_quantile([c[1] for c in answered], 0.99) * 1000, 1),
            "server_p99_ms": round(_quantile([c[2] for c in answered if c[2] is not None], 0.99) * 1000, 1)}


def _start_probe(base_url: str, key: str, seconds: float) -> tuple[subprocess.Popen, float]:
    """``probe`` in a process of its own, starting in 5 s (its imports are done by then)."""
    start_at = time.time() + 5
    proc = subprocess.Popen([sys.executable, __file__, "--probe", base_url, key, str(start_at), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    return proc, start_at


def _pipeline(home: Path, url: str) -> subprocess.Popen:
    """``smartmall generate`` (small) then ``smartmall run``, reading the API's database, at a lower
    CPU and disk priority (nice 10, ionice idle): a batch job on the shop's machine yields to the
    shoppers."""
    env = {**os.environ, "SMARTMALL_HOME": str(home), "COMMERCE_DATABASE_URL": url}
    script = "smartmall generate --scale small && smartmall run"
    return subprocess.Popen(["nice", "-n", "10", "ionice", "-c", "3", "bash", "-c", script], cwd=REPO, env={**env, "PATH": f"{Path(sys.executable).parent}:"
                                                                             f"{env['PATH']}"},
                            stdout=(home / "pipeline.log").open("w"), stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--step-seconds", type=float, default=20, help="length of each ramp step")
    parser.add_argument("--no-pipeline", action="store_true", help="a quick look: no pipeline run mid-way")
    parser.add_argument("--rate", type=float, help="sessions a second to soak at (default: found by the ramp)")
    parser.add_argument("--probe", nargs=4, metavar=("URL", "KEY", "START_AT", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:  # the process _start_probe starts
        url, key, start_at, seconds = args.probe
        print(json.dumps(probe(url, key, float(start_at), float(seconds))))
        return
    admin = _admin_url()
    url = _fresh_db(admin, "smartmall_soak")
    result: dict = {"workers": args.workers, "mix": MIX}
    with tempfile.TemporaryDirectory(prefix="smartmall-soak-") as tmp:
        tmp_path = Path(tmp)
        w = make_world(url, tmp_path)
        proc, port = _start(tmp_path, args.workers, url)
        try:
            shop = Shop(w, f"http://127.0.0.1:{port}")
            shop.seed()
            load = Load(shop)
            load.run("warm-up", RAMP[0], args.step_seconds)  # connections, caches, the first plans
            ramp = []
            rate = RAMP[0]
            for step in () if args.rate else RAMP:
                s = load.run(f"ramp {step}", step, args.step_seconds)
                ramp.append({"offered": step, **{k: s[k] for k in ("accepted_per_s", "p99_ms", "error_share",
                                                                  "shed_share", "generator_lagging_sessions")}})
                print(json.dumps(ramp[-1]), flush=True)
                if s["p99_ms"] > P99_TARGET * 1000 or s["error_share"] > 0 or s["shed_share"] > 0:
                    break
                rate = step
            rate = args.rate or rate
            result["ramp"], result["sustained_sessions_per_s"] = ramp, rate
            api_pids = [proc.pid, *_children(proc.pid)]
            result["rss_start_mb"] = {**resident_mb(api_pids), "postgres total": round(
                sum(resident_mb(_postgres_pids()).values()), 1)}
            (tmp_path / "pipeline").mkdir()
            half = args.minutes * 30
            samples: list[tuple[float, float]] = []
            sampling = threading.Event()

            def sample() -> None:  # the API's resident memory every 10 s: a leak shows as a slope
                t0 = time.monotonic()
                while not sampling.wait(10):
                    samples.append((time.monotonic() - t0, sum(resident_mb([proc.pid, *_children(proc.pid)]).values())))

            threading.Thread(target=sample, daemon=True).start()
            first = load.run("soak", rate, half)
            pipeline_started = time.monotonic()
            pipeline = None if args.no_pipeline else _pipeline(tmp_path / "pipeline", url)
            second = load.run("soak, pipeline running", rate, half)
            if pipeline is not None:
                pipeline_rc = pipeline.wait()
                result["pipeline"] = {"exit_code": pipeline_rc, "seconds": round(time.monotonic() - pipeline_started),
                                      "log_tail": (tmp_path / "pipeline" / "pipeline.log").read_text().splitlines()[-3:]}
            sampling.set()
            result["api_rss_samples_mb"] = [[round(t), round(m, 1)] for t, m in samples]
            result["api_rss_slope_mb_per_min"] = _slope(samples) * 60
            result["rss_end_mb"] = {**resident_mb(api_pids), "postgres total": round(
                sum(resident_mb(_postgres_pids()).values()), 1)}
            result["soak"] = summarise([c for c in load.calls if c[0].startswith("soak")],
                                       first["seconds"] + second["seconds"],
                                       round(first["offered_sessions_per_s"] * first["seconds"]
                                             + second["offered_sessions_per_s"] * second["seconds"]),
                                       load.sessions["soak"] + load.sessions["soak, pipeline running"],
                                       load.lagging["soak"] + load.lagging["soak, pipeline running"])
            result["soak_first_half"], result["soak_second_half_pipeline"] = first, second
            # the clients outnumber what the workers admit (COMMERCE_MAX_INFLIGHT each), as in a flash crowd
            prober, start_at = _start_probe(shop.base_url, load.keys["service"], 60)
            time.sleep(max(0.0, start_at - time.time()))
            result["overload_5x"] = load.run_in_processes("overload 5x", 5 * rate, 60, threads=400, processes=4)
            result["overload_5x"]["probe"] = json.loads(prober.communicate(timeout=60)[0])
            result["recovery_1x"] = load.run("recovery 1x", rate, 30)
            result["invariants"] = invariants(w)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            w.client.close()
            w.services.sessions.kw["bind"].dispose()
    _drop_db(admin, "smartmall_soak")
    for phase in ("soak", "overload_5x", "recovery_1x"):
        s = result[phase]
        print(f"{phase}: offered {s['offered_sessions_per_s']} sessions/s, {s['accepted_per_s']} accepted req/s, "
              f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms (in the API: {s['server_p99_ms']} ms), shed {s['shed_share']:.1%}, errors {s['error_share']:.2%}")
    p = result["overload_5x"]["probe"]
    print(f"overload_5x, probe process: {p['answered']} of {p['sent']} answered, p50 {p['p50_ms']} ms, "
          f"p99 {p['p99_ms']} ms (in the API: {p['server_p99_ms']} ms), shed {p['shed']}, errors {p['errors']}")
    print("invariants hold:", result["invariants"]["all_hold"])
    out = REPO / "bench" / "results" / "soak.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
