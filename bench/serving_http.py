"""The recommendation endpoint over HTTP (not a test), beside a bare endpoint, in the same run.

    python bench/serving_http.py [--seconds 15] [--clients 50] [--workers 2]

Seeds ``api_load``'s catalogue and shoppers on a fresh PostgreSQL database, publishes a version in
which every shopper has 50 recommendations (``serving.published``), serves the API with
``commerce_api.serve`` and drives ``GET /customers/{id}/recommendations`` (all filters: listed,
channel, stock at the home store or above it) with ``wrk``; then the same number of uvicorn workers
serve a bare async FastAPI endpoint that returns a constant list (``bench/bare_app.py``). Reports
both throughputs and latencies and their ratio (target >= 0.5x), then both at a fixed offered rate
of 200 requests/s from an open-loop client (target: p99 <= 2x the bare one's). Writes
``bench/results/serving_http.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from api_load import N_SHOPPERS, N_SKUS, READ_LUA, _admin_url, _drop_db, _free_port, _fresh_db, _seed, _wrk  # noqa: E402

from serving import published  # noqa: E402

TARGET_RATIO = 0.5
FIXED_RATE, TARGET_P99_RATIO = 200, 2.0  # requests/s offered; p99 at most this times the bare endpoint's


def _publish(home: Path) -> None:
    """A version where shopper B<i> has 50 recommendations over the seeded SKUs."""
    rng = random.Random(7)
    skus = [f"SKU{i:04d}" for i in range(N_SKUS)]
    rows = [(f"B{c:04d}", v, r + 1, s) for c in range(N_SHOPPERS) for v in ("repeat", "new")
            for r, s in enumerate(rng.sample(skus, 50))]
    recs = pl.DataFrame(rows, schema=["customer_id", "variant", "rank", "sku"], orient="row")
    frames = {"customer_recommendations": recs,
              "similar_items": pl.DataFrame(schema={"sku": pl.Utf8, "rank": pl.Int64, "similar_sku": pl.Utf8}),
              "bought_together": pl.DataFrame(schema={"sku": pl.Utf8, "rank": pl.Int64, "other_sku": pl.Utf8}),
              "popular_items": pl.DataFrame({"region": ["all"] * 50, "category": ["all"] * 50,
                                             "rank": range(1, 51), "sku": skus[:50]}),
              "member_profiles": pl.DataFrame({"customer_id": [f"B{c:04d}" for c in range(N_SHOPPERS)],
                                               "region": ["east"] * N_SHOPPERS}),
              "coupon_recommendations": pl.DataFrame(schema={"customer_id": pl.Utf8}),
              "forecasts": pl.DataFrame(schema={"sku": pl.Utf8, "location_id": pl.Utf8,
                                                "week_start": pl.Date}),
              "replenishment": pl.DataFrame(schema={"sku": pl.Utf8, "location_id": pl.Utf8})}
    outcome = published.publish(home / "serving" / "published", frames, set(skus) | {"HOT"})
    assert outcome.live, outcome.describe()


def _start(cmd: list[str], env: dict, base: str, path: str, headers: dict) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(base + path, headers=headers, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{' '.join(cmd)} did not start")


def _fixed_rate(base: str, paths: list[str], headers: dict, seconds: int, rate: int) -> dict:
    """p50/p99 at a fixed offered rate, open loop: request i is due at ``i / rate`` s and its latency is
    counted from then, not from when it could be sent (so a stall is not hidden by the requests it
    held back, as wrk2 does; wrk2 is not packaged for Debian). One asyncio client on keep-alive
    connections: at 200 requests/s it needs a few percent of a core."""

    async def run() -> tuple[list[float], int]:
        latencies: list[float] = []
        failed = 0
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=10) as client:
            loop = asyncio.get_running_loop()

            async def one(i: int, due: float) -> None:
                nonlocal failed
                r = await client.get(paths[i % len(paths)])
                latencies.append(loop.time() - due)
                failed += r.status_code != 200

            for i in range(rate):  # one second of warm-up, not counted
                await client.get(paths[i % len(paths)])
            start, tasks = loop.time() + 0.05, []
            for i in range(rate * seconds):
                due = start + i / rate
                await asyncio.sleep(max(0.0, due - loop.time()))
                tasks.append(asyncio.create_task(one(i, due)))
            await asyncio.gather(*tasks)
        return latencies, failed

    latencies, failed = asyncio.run(run())
    ms = np.percentile(np.array(latencies) * 1000, [50, 99])
    return {"rate": rate, "requests": len(latencies), "non_200": failed, "p50_ms": round(float(ms[0]), 2),
            "p99_ms": round(float(ms[1]), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    admin = _admin_url()
    url = _fresh_db(admin, "smartmall_serving_bench")
    home = Path(tempfile.mkdtemp(prefix="smartmall_serving_http_"))
    procs: list[subprocess.Popen] = []
    try:
        keys, service_key, _ = _seed(url)
        _publish(home)
        env = {**os.environ, "SMARTMALL_HOME": str(home), "COMMERCE_DATABASE_URL": url,
               "COMMERCE_DB_POOL": str(max(5, args.clients // args.workers + 5))}
        auth = {"Authorization": f"Bearer {service_key}"}
        port = _free_port()
        api = f"http://127.0.0.1:{port}"
        procs.append(_start([sys.executable, "-m", "commerce_api.serve", "--port", str(port), "--workers",
                             str(args.workers)], env, api, "/customers/B0000/recommendations", auth))
        paths = ",".join(f'"/customers/B{c:04d}/recommendations?channel=app&location_id=S1"'
                         for c in range(N_SHOPPERS))
        script = READ_LUA % (paths, service_key)
        _wrk(api, script, args.clients, 3)  # warm-up
        recs = _wrk(api, script, args.clients, args.seconds)
        recs_fixed = _fixed_rate(api, [f"/customers/B{c:04d}/recommendations?channel=app&location_id=S1"
                                       for c in range(N_SHOPPERS)], auth, args.seconds, FIXED_RATE)
        procs.pop().terminate()

        port = _free_port()
        bare = f"http://127.0.0.1:{port}"
        procs.append(_start([sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(port), "--workers",
                             str(args.workers), "--log-level", "warning", "--no-access-log"], env, bare, "/bare", {}))
        bare_script = READ_LUA % ('"/bare"', "none")
        _wrk(bare, bare_script, args.clients, 3)
        constant = _wrk(bare, bare_script, args.clients, args.seconds)
        constant_fixed = _fixed_rate(bare, ["/bare"], {}, args.seconds, FIXED_RATE)
    finally:
        for p in procs:
            p.terminate()
        _drop_db(admin, "smartmall_serving_bench")
        shutil.rmtree(home, ignore_errors=True)
    ratio = recs["requests_per_s"] / constant["requests_per_s"]
    p99_ratio = recs_fixed["p99_ms"] / constant_fixed["p99_ms"]
    report = {"clients": args.clients, "workers": args.workers, "seconds": args.seconds,
              "recommendations": recs, "bare_endpoint": constant, "ratio": round(ratio, 3), "target": TARGET_RATIO,
              "at_fixed_rate": {"recommendations": recs_fixed, "bare_endpoint": constant_fixed,
                                "p99_ratio": round(p99_ratio, 2), "target": TARGET_P99_RATIO}}
    print(f"recommendations: {recs['requests_per_s']:,.0f}/s, p50 {recs['p50_ms']:.1f} ms, p99 {recs['p99_ms']:.1f} ms"
          f" ({recs['non_2xx']} non-2xx)")
    print(f"bare endpoint:   {constant['requests_per_s']:,.0f}/s, p50 {constant['p50_ms']:.1f} ms, "
          f"p99 {constant['p99_ms']:.1f} ms")
    print(f"ratio {ratio:.3f}x (target >= {TARGET_RATIO}x)")
    print(f"at {FIXED_RATE}/s offered: recommendations p50 {recs_fixed['p50_ms']:.1f} ms, p99 {recs_fixed['p99_ms']:.1f} "
          f"ms; bare p50 {constant_fixed['p50_ms']:.1f} ms, p99 {constant_fixed['p99_ms']:.1f} ms: p99 {p99_ratio:.2f}x "
          f"(target <= {TARGET_P99_RATIO}x)")
    out = REPO / "bench" / "results" / "serving_http.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
