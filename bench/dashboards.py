"""Dashboard page timings (not a test): every page, cold and warm, on the default-scale demo.

    python bench/dashboards.py [--home DIR]

Without ``--home`` it builds the default demo in a temporary folder first (about 3 minutes). Each
page is rendered by Streamlit's AppTest in this process, as the server runs it: "cold" with the
query cache cleared (every query goes to the snapshot file), "warm" the median of the next three
renders (the cache holds the page's queries). Printed beside each: its ratio to the target (<= 3 s
cold, <= 1 s warm) and what the cache saves (cold / warm, same run). Writes
``bench/results/dashboards.json``; exits non-zero when a page misses a target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dashboards.navigation import PAGES  # noqa: E402

COLD_TARGET, WARM_TARGET = 3.0, 1.0  # seconds per page
RUNS = 3  # warm renders per page (the median is reported)


def _home(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    home = Path(tempfile.mkdtemp(prefix="smartmall_dash_bench_"))
    print(f"building the default demo in {home} (about 3 minutes) ...", flush=True)
    subprocess.run([sys.executable, "-m", "pipelines.cli", "demo"], cwd=REPO, check=True,
                   env={**os.environ, "SMARTMALL_HOME": str(home)}, stdout=subprocess.DEVNULL)
    return home


def _render(page: str) -> float:
    from streamlit.testing.v1 import AppTest

    started = time.perf_counter()
    at = AppTest.from_file(str(REPO / "dashboards" / page), default_timeout=120)
    at.run()
    elapsed = time.perf_counter() - started
    if at.exception:
        raise SystemExit(f"{page} failed: {at.exception[0].value}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="a SMARTMALL_HOME with a demo already run (default: build one)")
    args = parser.parse_args()
    home = _home(args.home)
    os.environ["SMARTMALL_MARTS_SNAPSHOT"] = str(home / "serving" / "warehouse_snapshot.duckdb")
    os.environ["SMARTMALL_SEGMENTS_DIR"] = str(home / "segments")
    os.environ["SMARTMALL_REGISTRY_DIR"] = str(home / "registry")
    import streamlit as st

    snapshot_mb = Path(os.environ["SMARTMALL_MARTS_SNAPSHOT"]).stat().st_size / 1e6
    results, missed = {}, []
    _render(PAGES[0][0])  # imports and Streamlit's own first-run set-up are not a page's cost
    for page, title, _ in PAGES:
        st.cache_data.clear()
        cold = _render(page)
        warm = sorted(_render(page) for _ in range(RUNS))[RUNS // 2]
        results[title] = {"cold_s": round(cold, 3), "warm_s": round(warm, 3), "cold_vs_warm": round(cold / warm, 1),
                          "cold_vs_target": round(cold / COLD_TARGET, 2), "warm_vs_target": round(warm / WARM_TARGET, 2)}
        ok = cold <= COLD_TARGET and warm <= WARM_TARGET
        missed += [] if ok else [title]
        print(f"  {title:<24} cold {cold:6.2f}s ({cold / COLD_TARGET:4.2f}x target)   "
              f"warm {warm:6.2f}s ({warm / WARM_TARGET:4.2f}x target)   cache saves {cold / warm:4.1f}x   "
              f"{'ok' if ok else 'MISSED'}", flush=True)
    out = {"home": str(home), "snapshot_mb": round(snapshot_mb, 1), "targets": {"cold_s": COLD_TARGET,
           "warm_s": WARM_TARGET}, "pages": results, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "measured_at": time.strftime("%Y-%m-%d %H:%M")}
    path = REPO / "bench" / "results" / "dashboards.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    if missed:
        raise SystemExit(f"pages over target: {', '.join(missed)}")


if __name__ == "__main__":
    main()
