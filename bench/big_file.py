"""A landed file far larger than DuckDB's memory cap (not a test): does ingestion stay bounded?

    python bench/big_file.py [--gb 2] [--cap 1GB]

Writes one transactions CSV of about ``--gb`` GB (one record in a thousand names an unknown SKU),
ingests it in a child process with DuckDB capped at ``--cap``, and reports the child's peak resident
memory against the same process loading only the catalogue (the baseline, measured in the same
run), the rows and the time. Writes ``bench/results/big_file.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import polars as pl  # noqa: E402

BYTES_PER_ROW = 45  # of the CSV written below, measured
CHILD = """
import duckdb, resource, sys
from pathlib import Path
from pipelines.ingest import ingest_table
con = duckdb.connect(sys.argv[1], config={"memory_limit": sys.argv[3], "threads": 2})
landing = Path(sys.argv[2])
reports = [ingest_table(con, table, landing) for table in sys.argv[4].split(",")]
r = reports[-1]
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, r.rows_in, r.accepted, r.quarantined)
"""


def write_transactions_csv(path: Path, rows: int) -> None:
    """``rows`` transaction lines of SKU 'A' (every thousandth of the unknown SKU 'Z'), with a
    header, and the catalogue (SKU 'A') beside the landing folder's ``products/``."""
    landing = path.parents[2]
    (landing / "products").mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"sku": ["A"], "name": ["apple"], "price": [1.5]}).write_parquet(landing / "products" / "p.parquet")
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'o' || range AS order_id, 1 AS line_number, 'c' || (range % 5000) AS customer_id,
                         CASE WHEN range % 1000 = 7 THEN 'Z' ELSE 'A' END AS sku, 1 + range % 3 AS quantity,
                         1.5 AS unit_price, TIMESTAMP '2025-03-01 08:00:00' + to_seconds(range % 50000) AS ordered_at
                         FROM range({rows})) TO '{str(path).replace("'", "''")}' (HEADER)""")
    con.close()


def ingest_in_subprocess(landing: Path, database: Path, memory_limit: str,
                         tables: tuple[str, ...] = ("products", "transactions")) -> tuple[int, tuple[int, int, int]]:
    """Peak resident MB of a fresh process ingesting ``tables``, and (rows in, accepted, quarantined)
    of the last one."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(database), str(landing), memory_limit, ",".join(tables)],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout.split()
    peak, rows_in, accepted, quarantined = map(int, out[-4:])
    return peak, (rows_in, accepted, quarantined)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--cap", default="1GB")
    args = parser.parse_args()
    rows = int(args.gb * 2**30 / BYTES_PER_ROW)
    with tempfile.TemporaryDirectory(prefix="smartmall-big-") as tmp:
        day = Path(tmp) / "landing" / "transactions" / "date=2025-03-01"
        day.mkdir(parents=True)
        write_transactions_csv(day / "big.csv", rows)
        size_mb = (day / "big.csv").stat().st_size / 2**20
        idle_mb, _ = ingest_in_subprocess(Path(tmp) / "landing", Path(tmp) / "idle.duckdb", args.cap, ("products",))
        started = time.perf_counter()
        peak_mb, (rows_in, accepted, quarantined) = ingest_in_subprocess(
            Path(tmp) / "landing", Path(tmp) / "w.duckdb", args.cap)
        seconds = time.perf_counter() - started
    result = {"file_mb": round(size_mb), "rows": rows, "duckdb_memory_limit": args.cap, "rows_in": rows_in,
              "accepted": accepted, "quarantined": quarantined, "seconds": round(seconds, 1),
              "peak_resident_mb": peak_mb, "baseline_resident_mb": idle_mb, "growth_mb": peak_mb - idle_mb}
    print(json.dumps(result, indent=2))
    out = REPO / "bench" / "results" / "big_file.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
