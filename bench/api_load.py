"""Commerce API load benchmark (not a test), against PostgreSQL on loopback.

    python bench/api_load.py [--seconds 20] [--clients 50] [--workers 2] [--pgbench-scale 1]

In one run on this machine:
  1. pgbench on the same server and client count: TPC-B-like and select-only TPS (the physical
     reference);
  2. the database's share of a checkout: the SQL one checkout issues, captured from the API, replayed
     by pgbench at the same client count and at as many connections as the API's request threads;
  3. the API under uvicorn (``commerce_api.serve``: connections handed evenly to the workers), driven by ``wrk``
     (a C load generator, so the client costs little CPU):
     checkouts (``POST /orders``: validate, price, plan, reserve, ledger) from 50 concurrent shoppers,
     10 % of them on a hot SKU with little stock, with the CPU time the API processes and PostgreSQL
     spent per checkout; then catalogue and stock reads;
  4. the zero-oversell check: the hot SKU's reservations equal its stock exactly, no stock row is
     negative, the ledger rebuilds every row.
Writes ``bench/results/api_load.json``. Targets: checkouts/s >= 0.3 x pgbench TPC-B TPS with p99 <=
100 ms; reads >= 2,000 requests/s. Installs wrk and PostgreSQL with apt when missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from sqlalchemy import make_url, select  # noqa: E402

from commerce_api import inventory  # noqa: E402
from commerce_api.app import build_services, create_app  # noqa: E402
from commerce_api.auth import create_key  # noqa: E402
from commerce_api.clock import utcnow  # noqa: E402
from commerce_api.db import transaction  # noqa: E402
from commerce_api.schema import Customer, Location, Product, Sku, StockLevel, StockMovement  # noqa: E402
from commerce_api.signing import SECRET_VARS  # noqa: E402
from data.settings import Settings  # noqa: E402

N_SKUS, N_SHOPPERS, HOT_STOCK = 200, 200, 1000
for _var in SECRET_VARS.values():  # this run's own signing secrets (the servers it starts inherit them)
    os.environ.setdefault(_var, secrets.token_urlsafe(32))


def _admin_url() -> str:
    return subprocess.run([str(REPO / "scripts" / "postgres.sh")], check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]


def _admin_sql(admin: str, statement: str) -> None:
    u = make_url(admin)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
                         autocommit=True) as con:
        con.execute(statement)


def _fresh_db(admin: str, name: str) -> str:
    _drop_db(admin, name)
    _admin_sql(admin, f"CREATE DATABASE {name}")
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def _drop_db(admin: str, name: str) -> None:
    """Drop a phase's database once it is measured: else autovacuum cleans up after that phase (seconds
    of vacuum and analyze of its tens of thousands of rows, on these 2 cores) during a later phase's
    measurement, whose latency it then shows (seen: read p99 262 ms while the checkout replay's tables
    were vacuumed, 25-45 ms otherwise)."""
    _admin_sql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _pgbench(admin: str, clients: int, seconds: int, scale: int) -> dict:
    url = _fresh_db(admin, "smartmall_pgbench")
    u = make_url(url)
    try:
        subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), *_pg_args(u), u.database], check=True,
                       env={**os.environ, "PGPASSWORD": u.password}, capture_output=True)
        return {"tpcb_like": _pgbench_run(url, clients, seconds),
                "select_only": _pgbench_run(url, clients, seconds, "-S")}
    finally:
        _drop_db(admin, u.database)


def _pg_args(u) -> list[str]:
    return ["-h", u.host, "-p", str(u.port or 5432), "-U", u.username]


def _pgbench_run(url: str, clients: int, seconds: int, *extra: str) -> dict:
    """TPS and p50/p99 latency of one pgbench run (a built-in script, or ``-f file``) against ``url``."""
    u = make_url(url)
    with tempfile.TemporaryDirectory() as logs:
        r = subprocess.run(["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(seconds), *extra,
                            # a 20 % sample of transactions logged: latencies at a negligible cost to TPS
                            "-l", "--sampling-rate=0.2", f"--log-prefix={logs}/tx", *_pg_args(u), u.database],
                           check=True, env={**os.environ, "PGPASSWORD": u.password}, capture_output=True, text=True)
        # per-transaction log: client, transaction, latency (us), ...
        latencies = sorted(int(line.split()[2]) / 1000 for f in Path(logs).iterdir()
                           for line in f.read_text().splitlines())
    return {"tps": float(re.search(r"tps = ([\d.]+)", r.stdout).group(1)),
            "p50_ms": round(latencies[len(latencies) // 2], 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)], 2)}


def _checkout_replay_script(url: str, shopper_key: str) -> str:
    """A pgbench script of the SQL the API issues for one checkout, captured from the API itself (so it
    follows the code): the third checkout of one shopper (auth and statement caches warm), with the
    SKU (10 % the hot one, as in the load), the shopper and a new order id drawn per transaction."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    # statements at psycopg's level: the checkout runs some of them straight through it (db.driver_rows)
    execute = psycopg.Cursor.execute

    def capturing_execute(cursor, query, params=None, **kw):
        captured.append(psycopg.ClientCursor(cursor.connection).mogrify(query, params).strip() + ";")
        return execute(cursor, query, params, **kw)

    hooks = (("begin", lambda conn: captured.append("BEGIN;")), ("commit", lambda conn: captured.append("END;")))
    body = {"channel": "app", "lines": [{"sku": "SKU0003", "quantity": 1}]}
    with TestClient(create_app(Settings(commerce_database_url=url), sweeper=False)) as client:
        for _ in range(2):
            client.post("/orders", json=body, headers={"Authorization": f"Bearer {shopper_key}"})
        captured: list[str] = []
        for name, fn in hooks:
            event.listen(Engine, name, fn)
        psycopg.Cursor.execute = capturing_execute
        try:
            order = client.post("/orders", json=body, headers={"Authorization": f"Bearer {shopper_key}"}).json()
        finally:
            psycopg.Cursor.execute = execute
            for name, fn in hooks:
                event.remove(Engine, name, fn)
    text = "\n".join(captured)
    for literal, variable in ((f"'order:{order['id']}'", "'order:' || ':oid'"), (f"'{order['id']}'", "':oid'"),
                              ("'SKU0003'", "':sku'"), (f"'{order['customer_id']}'", "':cust'")):
        text = text.replace(literal, variable)
    return (f"\\set n random(0, {N_SKUS - 1})\n\\set h random(1, 10)\n\\set c random(0, {N_SHOPPERS - 1})\n"
            "SELECT CASE WHEN :h = 1 THEN 'HOT' ELSE 'SKU' || lpad(':n', 4, '0') END AS sku, "
            "'B' || lpad(':c', 4, '0') AS cust, gen_random_uuid()::text AS oid \\gset\n" + text + "\n")


def _checkout_replay(admin: str, client_counts: tuple[int, ...], seconds: int) -> dict[str, dict]:
    """pgbench replaying the API's own checkout SQL on a freshly seeded database, per client count:
    the database's share of a checkout, with no Python in the loop."""
    url = _fresh_db(admin, "smartmall_checkout_replay")
    keys, _, _ = _seed(url)
    svc = build_services(Settings(commerce_database_url=url), migrate=False)
    with transaction(svc.sessions) as s:
        # the captured checkout reserves at the regional warehouse: enough hot stock there for every
        # replayed reservation to take its row lock, as the API's checkouts do (they move on to the store)
        inventory.receive(s, "RW-E", "HOT", 10_000_000, reference="bench")
    svc.sessions.kw["bind"].dispose()
    script = Path(tempfile.mkstemp(suffix=".sql")[1])
    try:
        script.write_text(_checkout_replay_script(url, keys[0]))
        return {f"{n}_clients": _pgbench_run(url, n, seconds, "-f", str(script)) for n in client_counts}
    finally:
        script.unlink()
        _drop_db(admin, "smartmall_checkout_replay")


def _seed(url: str) -> tuple[list[str], str, str]:
    """Locations, SKUs with ample stock, one hot SKU with little, shoppers. Returns (shopper keys, service key,
    staff key)."""
    svc = build_services(Settings(commerce_database_url=url))
    now = utcnow()
    with transaction(svc.sessions) as s:
        s.add_all([Location(id="CW", kind="central_warehouse", name="Central"),
                   Location(id="RW-E", kind="regional_warehouse", name="East", region="east", parent_id="CW"),
                   Location(id="S1", kind="store", name="Store 1", region="east", parent_id="RW-E", pickup=True,
                            latitude=31.2, longitude=121.5)])
        skus = [f"SKU{i:04d}" for i in range(N_SKUS)] + ["HOT"]
        # a catalogue page looks like a shop's: products of two SKUs (e.g. two colours) each
        s.add_all([Product(id=f"P{i // 2:04d}", name=f"Bench product {i // 2}", category=f"Cat{i % 7}", listed=True,
                           updated_at=now) for i in range(0, len(skus), 2)])
        s.flush()
        s.add_all([Sku(sku=k, product_id=f"P{i // 2:04d}", list_price=1000 + i, barcode=f"69{i:010d}", listed=True,
                       spec={"colour": "black" if i % 2 else "white"}, stock_pools="shared", updated_at=now)
                   for i, k in enumerate(skus)])
        s.flush()
        for k in skus:
            inventory.receive(s, "RW-E", k, HOT_STOCK if k == "HOT" else 10_000_000, reference="bench")
            inventory.receive(s, "S1", k, 1000, reference="bench")
        s.add_all([Customer(id=f"B{i:04d}", member_code=f"BM{i:04d}", region="east", tier="member", points=0,
                            stored_value=0, created_at=now) for i in range(N_SHOPPERS)])
        s.flush()
        keys = [create_key(s, "shopper", customer_id=f"B{i:04d}") for i in range(N_SHOPPERS)]
        service = create_key(s, "service")
        staff = create_key(s, "store_staff", store_id="S1")
    svc.sessions.kw["bind"].dispose()
    return keys, service, staff


CHECKOUT_LUA = """
local keys = {%s}
math.randomseed(os.time())
request = function()
  local sku
  if math.random() < 0.1 then sku = "HOT" else sku = string.format("SKU%%04d", math.random(0, %d)) end
  local body = '{"channel":"app","lines":[{"sku":"' .. sku .. '","quantity":1}]}'
  local headers = {["Authorization"] = "Bearer " .. keys[math.random(#keys)],
                   ["Content-Type"] = "application/json"}
  return wrk.format("POST", "/orders", headers, body)
end
"""

READ_LUA = """
local paths = {%s}
local auth = "Bearer %s"
math.randomseed(os.time())
request = function()
  return wrk.format("GET", paths[math.random(#paths)], {["Authorization"] = auth})
end
"""


def _wrk(base: str, script: str, clients: int, seconds: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    r = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", "--timeout", "10s", "-s", f.name,
                        base], check=True, capture_output=True, text=True)
    text = r.stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    total = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {"requests": total, "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0, "p50_ms": ms("50"), "p90_ms": ms("90"),
            "p99_ms": ms("99"), "socket_errors": errors.group(1) if errors else None}


def _cpu_seconds(api_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the API (the server and its workers) and by PostgreSQL."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {"api": 0.0, "postgres": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        if int(pid) == api_pid or int(fields[1]) == api_pid:  # fields[1]: parent pid
            used["api"] += seconds
        elif name == "postgres":
            used["postgres"] += seconds
    return used


def _autogroup() -> int | None:
    """``kernel.sched_autogroup_enabled``, recorded with the results (a machine setting: not changed
    here). At 1 (the default on this machine) each session's processes form a CPU group of their own, so
    PostgreSQL (started in its own session) and the API with ``wrk`` (this one) share the cores as
    groups. Measured here with ``perf sched``: PostgreSQL backends runnable but not run for 50-350 ms
    (a newly started one for 1.5 s) while the API's threads waited at most 8 ms, and the requests on
    those connections waited with them (read p99 0.1-1.7 s in about one quick-run phase in four). At
    0: no such stall in 18 read phases."""
    try:
        return int(Path("/proc/sys/kernel/sched_autogroup_enabled").read_text())
    except (OSError, ValueError):  # not Linux, or a kernel without autogroup
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(url: str, workers: int, pool: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "COMMERCE_DATABASE_URL": url, "COMMERCE_DB_POOL": str(pool)}
    proc = subprocess.Popen([sys.executable, "-m", "commerce_api.serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers)], cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(200):
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the API did not start")


def _oversell_check(url: str) -> dict:
    svc = build_services(Settings(commerce_database_url=url), migrate=False)
    with svc.sessions() as s:
        rows = s.execute(select(StockLevel)).scalars().all()
        negative = [r.sku for r in rows if min(r.on_hand, r.reserved, r.allocated,
                                                r.on_hand - r.reserved - r.allocated) < 0]
        hot = s.execute(select(StockLevel).where(StockLevel.sku == "HOT", StockLevel.location_id == "RW-E")
                        ).scalar_one()
        mismatches = inventory.ledger_mismatches(s)
        movements = s.query(StockMovement).count()
    svc.sessions.kw["bind"].dispose()
    return {"hot_sku_stock": hot.on_hand, "hot_sku_reserved": hot.reserved,
            "hot_sku_available": hot.on_hand - hot.reserved - hot.allocated, "negative_rows": len(negative),
            "ledger_mismatches": len(mismatches), "ledger_rows": movements,
            "zero_oversell": not negative and not mismatches and hot.reserved <= hot.on_hand}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pgbench-scale", type=int, default=1,
                        help="pgbench -i scale (default 1, pgbench's own default: one branch row that every "
                             "TPC-B transaction updates, as in the reference figures)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    admin = _admin_url()
    autogroup = _autogroup()
    if autogroup:
        print("kernel.sched_autogroup_enabled = 1: PostgreSQL and the API compete as CPU groups, which can "
              "leave a PostgreSQL backend waiting for a CPU (README, the commerce API's figures)", flush=True)

    print(f"pgbench: scale {args.pgbench_scale}, {args.clients} clients, {args.seconds}s each ...", flush=True)
    pg = _pgbench(admin, args.clients, args.seconds, args.pgbench_scale)
    print(f"  TPC-B-like {pg['tpcb_like']['tps']:,.0f} TPS (p50 {pg['tpcb_like']['p50_ms']:.1f} ms, p99 "
          f"{pg['tpcb_like']['p99_ms']:.1f} ms), select-only {pg['select_only']['tps']:,.0f} TPS", flush=True)

    # the database alone: at the load's client count, and at as many connections as the API's request threads
    api_threads = args.workers * Settings().api_threads
    replay = _checkout_replay(admin, (args.clients, api_threads), args.seconds)
    for clients, r in replay.items():
        print(f"  the API's checkout SQL replayed by pgbench, {clients.replace('_', ' ')}: {r['tps']:,.0f} TPS "
              f"(p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms)", flush=True)

    url = _fresh_db(admin, "smartmall_api_bench")
    keys, service_key, staff_key = _seed(url)
    pool = max(5, args.clients // args.workers + 5)
    proc, base = _serve(url, args.workers, pool)
    try:
        quoted = ",".join(f'"{k}"' for k in keys)
        _wrk(base, CHECKOUT_LUA % (quoted, N_SKUS - 1), args.clients, 3)  # warm-up
        print(f"checkouts: {args.clients} clients, {args.seconds}s, {args.workers} uvicorn workers ...", flush=True)
        cpu_before = _cpu_seconds(proc.pid)
        checkout = _wrk(base, CHECKOUT_LUA % (quoted, N_SKUS - 1), args.clients, args.seconds)
        cpu = {k: round((v - cpu_before[k]) * 1000 / checkout["requests"], 2)
               for k, v in _cpu_seconds(proc.pid).items()}
        print(f"  CPU per checkout: API {cpu['api']:.2f} ms, PostgreSQL {cpu['postgres']:.2f} ms", flush=True)
        reads = {}
        for name, paths, key in (
                ("catalogue", ["/products?limit=20", "/products?limit=20&offset=0&channel=app"], service_key),
                ("stock", [f"/inventory?sku=SKU{i:04d}&location_id=RW-E" for i in range(0, N_SKUS, 7)], service_key),
                ("till_scan", [f"/till/scan/69{i:010d}" for i in range(0, N_SKUS, 7)], staff_key)):
            script = READ_LUA % (",".join(f'"{p}"' for p in paths), key)
            reads[name] = _wrk(base, script, args.clients, max(5, args.seconds // 2))
            print(f"  {name}: {reads[name]['requests_per_s']:,.0f} req/s, p99 {reads[name]['p99_ms']:.1f} ms",
                  flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    check = _oversell_check(url)
    succeeded = checkout["requests"] - checkout["non_2xx"]
    checkouts_per_s = succeeded / args.seconds
    ratio = checkouts_per_s / pg["tpcb_like"]["tps"]
    report = {
        "machine": f"{os.cpu_count()} cores, {platform.machine()}", "sched_autogroup_enabled": autogroup,
        "clients": args.clients,
        "uvicorn_workers": args.workers, "seconds": args.seconds, "pgbench_scale": args.pgbench_scale,
        "pgbench_tps": pg, "checkout_sql_replayed_by_pgbench": replay, "checkout": {**checkout, "succeeded": succeeded,
                                        "refused_out_of_stock_or_other": checkout["non_2xx"],
                                        "checkouts_per_s": round(checkouts_per_s, 1),
                                        "cpu_ms_per_checkout": cpu},
        "checkouts_vs_pgbench_tpcb": round(ratio, 3), "reads": reads, "oversell_check": check,
        "targets": {"checkouts_vs_pgbench_tpcb": 0.3, "checkout_p99_ms": 100, "reads_per_s": 2000},
    }
    print(f"\ncheckouts: {checkouts_per_s:,.0f}/s (p50 {checkout['p50_ms']:.1f} ms, p99 {checkout['p99_ms']:.1f} ms), "
          f"{ratio:.2f}x pgbench TPC-B ({pg['tpcb_like']['tps']:,.0f} TPS, p99 {pg['tpcb_like']['p99_ms']:.1f} ms); "
          "target >= 0.3x, p99 <= 100 ms")
    print("the same checkout SQL replayed by pgbench (no Python): " + ", ".join(
        f"{c.replace('_', ' ')} {r['tps']:,.0f} TPS, p99 {r['p99_ms']:.1f} ms" for c, r in replay.items()))
    print(f"zero oversell: {check['zero_oversell']} (hot SKU: {check['hot_sku_stock']} in stock, "
          f"{check['hot_sku_reserved']} reserved); ledger mismatches {check['ledger_mismatches']}")
    out = REPO / "bench" / "results" / "api_load.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
