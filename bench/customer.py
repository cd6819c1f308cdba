"""Customer block benchmark (not a test): RFM + CLV + churn on a built warehouse (dbt builds the tags and profile).

    python bench/customer.py [--home DIR]     # default: $SMARTMALL_HOME or <repo>/data (after ./run.sh demo)

Copies the warehouse (so the original is untouched), times each step of the customer block and
writes ``bench/results/customer_<rows>.json``. Target: <= 60 s at the default scale.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from data.settings import Settings, load_settings  # noqa: E402
from pipelines import customer  # noqa: E402
from serving.registry import Registry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="a SMARTMALL_HOME whose warehouse was built")
    args = parser.parse_args()
    settings = Settings(home=Path(args.home).resolve()) if args.home else load_settings()
    if not settings.warehouse.exists():
        raise SystemExit(f"no warehouse at {settings.warehouse}: run ./run.sh demo first")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "w.duckdb"
        shutil.copy(settings.warehouse, db)
        con = duckdb.connect(str(db))
        registry = Registry(Path(tmp) / "registry")
        timings = {}
        started = time.perf_counter()
        data = customer.load(con)
        timings["load"] = time.perf_counter() - started
        for name, step in (("rfm", lambda: customer.build_rfm(con, data, settings.rfm_snapshots)),
                           ("value", lambda: customer.build_value_or_skip(con, data, registry)),
                           ("churn", lambda: customer.build_churn_or_skip(con, data, registry))):
            t0 = time.perf_counter()
            step()
            timings[name] = time.perf_counter() - t0
        total = time.perf_counter() - started
        customers = con.execute("SELECT count(*) FROM marts.dim_customer").fetchone()[0]
        lines = data.lines.height
    report = {"order_lines": lines, "customers": customers, "seconds": {k: round(v, 2) for k, v in timings.items()},
              "total_seconds": round(total, 2), "target_seconds": 60}
    print(f"customer block on {lines:,} lines / {customers:,} customers: {total:.1f}s (target <= 60 s); "
          + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    out = REPO / "bench" / "results" / "customer_default.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
