"""Pipeline benchmark (not a test): large scale -> warehouse, against bare DuckDB on the same files.

    python bench/pipeline.py [--scale large] [--work DIR] [--skip-generate]

Reports, in one run on this machine: generation time; smartmall ingestion rows/s (contract
rules, quarantine, duplicate keys, transactional replace) beside DuckDB's own bare
``read_parquet -> CREATE TABLE`` rate on the same files (best of two alternating runs each);
the dbt build; the full refresh through
the real CLI (``smartmall run --fresh``: Dagster + ingestion + great-expectations + dbt build)
with its peak memory. Writes ``bench/results/pipeline_<scale>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from data.contract import DAILY_TABLES, REFERENCE_TABLES  # noqa: E402
from pipelines.ingest import ingest_table  # noqa: E402

# Runs a command and prints the peak resident memory (MB) of it and its own children, so each
# measured step gets its own figure.
_PEAK = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
         "sys.stderr.write(f'PEAK_MB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}\\n'); "
         "sys.exit(rc)")


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak MB, stdout) of one command."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK, *cmd], env=env, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    peak = float(proc.stderr.rsplit("PEAK_MB=", 1)[1].split()[0])
    return time.perf_counter() - started, peak, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="large", choices=["small", "default", "large"])
    parser.add_argument("--work", default=str(REPO / "data" / "bench"))
    parser.add_argument("--skip-generate", action="store_true", help="reuse the landing folder of an earlier run")
    parser.add_argument("--ingest-only", action="store_true", help="stop after the ingestion comparison")
    args = parser.parse_args()
    home = Path(args.work) / args.scale
    env = {**os.environ, "SMARTMALL_HOME": str(home)}
    smartmall = [sys.executable, "-m", "pipelines.cli"]
    report: dict[str, object] = {"scale": args.scale, "machine": f"{os.cpu_count()} cores, {platform.machine()}"}

    if not args.skip_generate:
        seconds, peak, _ = _run([*smartmall, "generate", "--scale", args.scale], env)
        report["generate_seconds"] = round(seconds, 1)
        report["generate_peak_mb"] = round(peak)
        print(f"generated {args.scale} in {seconds:.0f}s (peak {report['generate_peak_mb']} MB)", flush=True)
    landing = home / "landing"
    rows = {t: duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{landing}/{t}/*/*.parquet', hive_partitioning=false)").fetchone()[0]
        for t in DAILY_TABLES}
    report["rows"] = rows
    print("landed rows: " + ", ".join(f"{t} {n:,}" for t, n in rows.items()), flush=True)

    # 1. bare DuckDB and smartmall ingestion of the same files, same process, same settings
    scratch = home / "bench_scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    bare_db, ours_db = scratch / "bare.duckdb", scratch / "ours.duckdb"
    for f in (bare_db, ours_db):
        f.unlink(missing_ok=True)
    bare = duckdb.connect(str(bare_db))
    ours = duckdb.connect(str(ours_db))
    for t in REFERENCE_TABLES:
        ingest_table(ours, t, landing)
    per_table = {}
    for t in DAILY_TABLES:
        # best of two alternating runs each, so neither side profits from a cache the other warmed
        bare_s = ours_s = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            bare.execute(f"CREATE OR REPLACE TABLE {t} AS SELECT * FROM read_parquet('{landing}/{t}/*/*.parquet', "
                         "hive_partitioning=false)")
            bare_s = min(bare_s, time.perf_counter() - started)
            started = time.perf_counter()
            rep = ingest_table(ours, t, landing)  # the second run replaces the first: same end state
            ours_s = min(ours_s, time.perf_counter() - started)
        per_table[t] = {"rows": rep.rows_in, "bare_rows_per_s": round(rep.rows_in / bare_s),
                        "smartmall_rows_per_s": round(rep.rows_in / ours_s), "ratio": round(bare_s / ours_s, 3),
                        "quarantined": rep.quarantined}
        print(f"ingest {t:<20} bare {rep.rows_in / bare_s:>12,.0f} rows/s   smartmall {rep.rows_in / ours_s:>12,.0f} "
              f"rows/s   ratio {bare_s / ours_s:.2f}", flush=True)
    total_rows = sum(v["rows"] for v in per_table.values())
    bare_total = sum(v["rows"] / v["bare_rows_per_s"] for v in per_table.values())
    ours_total = sum(v["rows"] / v["smartmall_rows_per_s"] for v in per_table.values())
    report["ingest"] = {"tables": per_table, "bare_rows_per_s": round(total_rows / bare_total),
                        "smartmall_rows_per_s": round(total_rows / ours_total),
                        "ratio_vs_bare": round(bare_total / ours_total, 3), "target_ratio": 0.5}
    print(f"ingest overall: smartmall {total_rows / ours_total:,.0f} rows/s = {bare_total / ours_total:.2f}x "
          f"bare DuckDB ({total_rows / bare_total:,.0f} rows/s); target >= 0.5x", flush=True)
    bare.close()
    ours.close()

    if args.ingest_only:
        print(json.dumps(report["ingest"], indent=2))
        return
    # 2. the full refresh through the real front door, and the dbt build inside it
    seconds, peak, _ = _run([*smartmall, "run", "--fresh"], env)
    log = (home / "logs" / "last_run.log").read_text()
    dbt_line = [ln for ln in log.splitlines() if "Finished running" in ln]
    report["full_refresh_seconds"] = round(seconds, 1)
    report["full_refresh_peak_mb"] = round(peak)
    report["dbt_build"] = dbt_line[-1].strip() if dbt_line else "not found"
    report["target_full_refresh_seconds"] = 600
    report["target_peak_mb"] = 6144
    print(f"full refresh (smartmall run --fresh): {seconds:.0f}s, peak memory "
          f"{report['full_refresh_peak_mb']:,} MB (target <= 6144 MB, <= 600 s); {report['dbt_build']}", flush=True)
    out_file = REPO / "bench" / "results" / f"pipeline_{args.scale}.json"
    out_file.write_text(json.dumps(report, indent=2))
    print(f"written {out_file}")


if __name__ == "__main__":
    main()
