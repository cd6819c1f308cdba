"""The serving publish and its readers (not a test): how long a publish takes, how long a reader
takes to load a version, parquet against Arrow IPC for that load, and a lookup's cost in process.

    python bench/serving.py --home DIR      # a SMARTMALL_HOME whose warehouse was built

Publishes three versions of the home's marts into a temporary root (the median is reported) and
times ``serving.live.Served.load`` on them; then writes the same tables as uncompressed Arrow IPC
and times reading them memory-mapped, the alternative format; then times 20,000 recommendation
lookups, related-item lookups and profile reads. Writes ``bench/results/serving.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import polars as pl  # noqa: E402

from data.settings import load_settings  # noqa: E402
from serving import published  # noqa: E402
from serving.live import Served  # noqa: E402

RUNS = 3
LOOKUPS = 20_000


def _median_seconds(step, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="a SMARTMALL_HOME whose warehouse was built (default: the settings' home)")
    args = parser.parse_args()
    settings = load_settings(**({"home": args.home} if args.home else {}))
    if not settings.warehouse.exists():
        raise SystemExit(f"no warehouse at {settings.warehouse}: run ./run.sh demo first")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "w.duckdb"
        shutil.copy(settings.warehouse, db)
        con = duckdb.connect(str(db), read_only=True)
        read_seconds = _median_seconds(lambda: published.frames_from_warehouse(con))
        frames = published.frames_from_warehouse(con)
        known = {r[0] for r in con.execute("SELECT sku FROM marts.dim_product").fetchall()}
        con.close()
        root = Path(tmp) / "published"
        publish_seconds = _median_seconds(lambda: published.publish(root, frames, known))
        version = published.current(root)
        load_parquet = _median_seconds(lambda: Served.load(version))
        ipc = Path(tmp) / "ipc"
        ipc.mkdir()
        for name, frame in frames.items():
            frame.write_ipc(ipc / f"{name}.arrow", compression="uncompressed")
        read_parquet = _median_seconds(lambda: [published.read_table(version, n) for n in published.TABLES])
        read_ipc = _median_seconds(lambda: [pl.read_ipc(ipc / f"{n}.arrow") for n in published.TABLES])
        served = Served.load(version)
        parquet_bytes = sum(p.stat().st_size for p in version.folder.glob("*.parquet"))
        ipc_bytes = sum(p.stat().st_size for p in ipc.glob("*.arrow"))

    rng = random.Random(7)
    customers = list(served.profile_row) or ["nobody"]
    skus = list(served.recommendations.code_of) or ["none"]
    picks = [(rng.choice(customers), rng.choice(skus)) for _ in range(LOOKUPS)]
    t0 = time.perf_counter()
    for customer, _ in picks:
        served.recommendations.recommend(customer, 50)
    recommend_us = (time.perf_counter() - t0) / LOOKUPS * 1e6
    t0 = time.perf_counter()
    for _, sku in picks:
        served.recommendations.related(sku, "bought_together", 50)
    related_us = (time.perf_counter() - t0) / LOOKUPS * 1e6
    t0 = time.perf_counter()
    for customer, _ in picks:
        served.profile(customer)
    profile_us = (time.perf_counter() - t0) / LOOKUPS * 1e6

    report = {
        "home": str(settings.home), "machine": platform.platform(),
        "rows": {name: frame.height for name, frame in frames.items()},
        "seconds": {"read_marts": round(read_seconds, 3), "publish": round(publish_seconds, 3),
                    "reader_load_parquet": round(load_parquet, 3), "read_tables_parquet": round(read_parquet, 3),
                    "read_tables_arrow_ipc": round(read_ipc, 3)},
        "bytes": {"parquet": parquet_bytes, "arrow_ipc": ipc_bytes},
        "lookup_microseconds": {"recommend_50": round(recommend_us, 1), "related_50": round(related_us, 1),
                                "profile": round(profile_us, 1)},
    }
    print(f"rows: {sum(report['rows'].values()):,} in {len(frames)} tables")
    print(f"read the marts {read_seconds:.2f}s, publish (write + checks) {publish_seconds:.2f}s, "
          f"reader load {load_parquet:.2f}s")
    print(f"tables read: parquet {read_parquet:.3f}s ({parquet_bytes / 1e6:.1f} MB) vs Arrow IPC "
          f"{read_ipc:.3f}s ({ipc_bytes / 1e6:.1f} MB): {read_parquet / max(read_ipc, 1e-9):.1f}x")
    print(f"lookups in process: recommend {recommend_us:.1f} us, related {related_us:.1f} us, "
          f"profile {profile_us:.1f} us")
    out = REPO / "bench" / "results" / "serving.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
