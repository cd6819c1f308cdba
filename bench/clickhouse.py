"""The same feeds through both warehouses (not a test): DuckDB and ClickHouse side by side.

    python bench/clickhouse.py [--scale large] [--work DIR] [--skip-generate] [--clickhouse-url URL]

One landing folder, two installations: ``smartmall run --fresh`` with SMARTMALL_WAREHOUSE=duckdb and
with SMARTMALL_WAREHOUSE=clickhouse (the embedded engine, ``chdb://<work>/ch``, unless a server URL
is given). For each: ingestion rows/s per feed (as the run reports them), the full refresh's
seconds and peak memory (the run's process and its children, dbt included), and the latency of
the ten heaviest queries the dashboards' pages make (the same SQL on both, the best of three after
one warm-up, on one open connection) run in the warehouse itself. No ratio target: the embedded engine is not the target
deployment (one process, this machine's 2 cores). Writes ``bench/results/clickhouse_<scale>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from data.settings import Settings  # noqa: E402
from pipelines.warehouse import warehouse_resource  # noqa: E402

_PEAK = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
         "sys.stderr.write(f'PEAK_MB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}\\n'); "
         "sys.exit(rc)")
# The dashboards' heaviest reads (dashboards/queries/*), in SQL both engines speak: whole-history
# scans of the fact marts, grouped the way the pages group them.
QUERIES = {
    "sales by day and channel": "SELECT sale_date, channel, sum(net_revenue) AS revenue, sum(units_sold) AS units "
                                "FROM marts.fct_sales_daily GROUP BY 1, 2 ORDER BY 1, 2",
    "sales by category and region": "SELECT category, region, sum(net_revenue) AS revenue, sum(orders) AS orders "
                                    "FROM marts.fct_sales_daily GROUP BY 1, 2 ORDER BY 3 DESC",
    "top 20 products": "SELECT sku, sum(net_revenue) AS revenue, sum(units_sold) AS units FROM marts.fct_sales_daily "
                       "GROUP BY 1 ORDER BY 2 DESC LIMIT 20",
    "funnel by day": "SELECT funnel_date, sum(sessions), sum(viewed_product), sum(added_to_cart), "
                     "sum(started_checkout), sum(completed_order) FROM marts.fct_funnel_daily GROUP BY 1 ORDER BY 1",
    "events by day and name": "SELECT event_date, event, count(*) AS n FROM marts.fct_events GROUP BY 1, 2 "
                              "ORDER BY 1, 2",
    "sessions by channel and device": "SELECT channel, device, count(*) AS sessions, avg(duration_seconds) AS secs, "
                                      "sum(CASE WHEN converted THEN 1 ELSE 0 END) AS converted FROM marts.fct_sessions "
                                      "GROUP BY 1, 2 ORDER BY 3 DESC",
    "orders per customer": "SELECT customer_id, count(*) AS orders, sum(net_revenue) AS revenue FROM marts.fct_orders "
                           "WHERE customer_id IS NOT NULL GROUP BY 1 ORDER BY 3 DESC LIMIT 100",
    "top searches": "SELECT search_query, sum(searches) AS searches, sum(searches_with_view) AS found "
                    "FROM marts.fct_search_daily GROUP BY 1 ORDER BY 2 DESC LIMIT 50",
    "stock by location and day": "SELECT location_id, stock_date, sum(on_hand) AS on_hand "
                                 "FROM marts.fct_inventory_daily GROUP BY 1, 2 ORDER BY 1, 2",
    "footfall by store and hour": "SELECT store_id, hour, sum(visitors) AS visitors, sum(in_store_orders) AS orders "
                                  "FROM marts.fct_footfall_hourly GROUP BY 1, 2 ORDER BY 1, 2",
}
INGESTED = re.compile(r"ingested (\w+)\s+([\d,]+) rows in.*\(([\d,.]+) rows/s\)")


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak MB of it and its children, stdout) of one command."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK, *cmd], env=env, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started, float(proc.stderr.rsplit("PEAK_MB=", 1)[1].split()[0]), proc.stdout


def _latencies(settings: Settings) -> dict[str, float]:
    """Best of three runs of each query (after one warm-up) on one open connection, in milliseconds."""
    warehouse = warehouse_resource(settings)
    out = {}
    with contextlib.ExitStack() as stack:
        if warehouse.is_clickhouse:
            client = stack.enter_context(warehouse.clickhouse())
            run = lambda sql: client.query_arrow(sql)  # noqa: E731
        else:
            con = stack.enter_context(duckdb.connect(warehouse.duckdb_path, read_only=True))
            run = lambda sql: con.sql(sql).to_arrow_table()  # noqa: E731
        for name, sql in QUERIES.items():
            run(sql)
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                run(sql)
                best = min(best, time.perf_counter() - started)
            out[name] = round(best * 1000, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="large", choices=["small", "default", "large"])
    parser.add_argument("--work", default=str(REPO / "data" / "bench"))
    parser.add_argument("--skip-generate", action="store_true", help="reuse the landing folder of an earlier run")
    parser.add_argument("--clickhouse-url", help="a ClickHouse server (default: the embedded engine under --work)")
    parser.add_argument("--measure-only", action="store_true",
                        help="no refresh: the queries, and ingestion from the last run's log, of the installation there")
    parser.add_argument("--engine", choices=["duckdb", "clickhouse"],
                        help="run only this one (the other's figures are kept from the last report)")
    args = parser.parse_args()
    work = Path(args.work) / f"clickhouse_{args.scale}"
    smartmall = [sys.executable, "-m", "pipelines.cli"]
    out_file = REPO / "bench" / "results" / f"clickhouse_{args.scale}.json"
    report: dict[str, object] = {"scale": args.scale, "machine": f"{os.cpu_count()} cores, {platform.machine()}"}
    if args.engine and out_file.exists():
        report = json.loads(out_file.read_text()) | report
    landing_home = work / "duckdb"
    if not args.skip_generate:
        seconds, _, _ = _run([*smartmall, "generate", "--scale", args.scale],
                             {**os.environ, "SMARTMALL_HOME": str(landing_home)})
        print(f"generated {args.scale} in {seconds:.0f}s", flush=True)
    engines = {"duckdb": {"SMARTMALL_WAREHOUSE": "duckdb"},
               "clickhouse": {"SMARTMALL_WAREHOUSE": "clickhouse",
                              "CLICKHOUSE_URL": args.clickhouse_url or f"chdb://{work / 'clickhouse' / 'ch'}"}}
    for kind, extra in engines.items():
        if args.engine and kind != args.engine:
            continue
        home = work / kind
        if kind != "duckdb":  # the same files
            (home / "landing").parent.mkdir(parents=True, exist_ok=True)
            if not (home / "landing").exists():
                (home / "landing").symlink_to(landing_home / "landing")
        env = {**os.environ, "SMARTMALL_HOME": str(home), **extra}
        if args.measure_only:
            seconds, peak, out = float("nan"), float("nan"), (home / "logs" / "last_run.log").read_text()
        else:
            seconds, peak, out = _run([*smartmall, "run", "--fresh"], env)
        ingested = {m[1]: {"rows": int(m[2].replace(",", "")), "rows_per_s": round(float(m[3].replace(",", "")))}
                    for m in INGESTED.finditer(out) if int(m[2].replace(",", "")) > 0}
        rows = sum(v["rows"] for v in ingested.values())
        ingest_seconds = sum(v["rows"] / v["rows_per_s"] for v in ingested.values() if v["rows_per_s"])
        os.environ.update({"SMARTMALL_HOME": str(home), **extra})
        latencies = _latencies(Settings())
        previous = report.get(kind, {}) if args.measure_only else {}
        report[kind] = {"full_refresh_seconds": previous.get("full_refresh_seconds", round(seconds, 1)),
                        "peak_mb": previous.get("peak_mb", None if peak != peak else round(peak)),
                        "ingest_rows_per_s": round(rows / ingest_seconds) if ingest_seconds else None,
                        "ingested": ingested, "dashboard_queries_ms": latencies}
        print(f"{kind:<10} full refresh {seconds:,.0f}s, peak {peak:,.0f} MB, ingestion "
              f"{report[kind]['ingest_rows_per_s'] or 0:,} rows/s", flush=True)
        out_file.write_text(json.dumps(report, indent=2))  # each engine's figures kept as soon as measured
    if not all(kind in report for kind in engines):
        return
    print(f"\n{'dashboard query':<32}{'duckdb ms':>12}{'clickhouse ms':>15}")
    for name in QUERIES:
        print(f"{name:<32}{report['duckdb']['dashboard_queries_ms'][name]:>12,.1f}"
              f"{report['clickhouse']['dashboard_queries_ms'][name]:>15,.1f}")
    out_file.write_text(json.dumps(report, indent=2))
    print(f"written {out_file}")


if __name__ == "__main__":
    main()
