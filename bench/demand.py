"""Demand block benchmark (not a test): forecasts (backtest, model choice, refit, 8 weeks ahead) and
replenishment on a built warehouse, e.g. the default-scale demo.

    python bench/demand.py [--home DIR]     # default: $SMARTMALL_HOME or <repo>/data (after ./run.sh demo)

Copies the warehouse (the original is untouched), times each step and writes
``bench/results/demand_default.json``. Target: all series fit and forecast in <= 2 minutes.
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
from pipelines import demand, replenishment  # noqa: E402
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
        t0 = time.perf_counter()
        forecasts = demand.build_forecasts(con, registry)
        t1 = time.perf_counter()
        plan = replenishment.build_replenishment(con, registry, settings.supplier_lead_days)
        t2 = time.perf_counter()
    report = {"forecast": forecasts, "replenishment": plan,
              "seconds": {"forecasts": round(t1 - t0, 1), "replenishment": round(t2 - t1, 1)},
              "target_seconds_forecasts": 120}
    print(f"forecasts: {forecasts['series']:,} series x {forecasts['horizon_weeks']} weeks in {t1 - t0:.1f}s "
          f"(target <= 120 s); backtest MASE {forecasts['backtest_mase']:.3f} vs {forecasts['best_baseline']} "
          f"{forecasts['best_baseline_mase']:.3f}; replenishment {t2 - t1:.1f}s; policy backtest "
          f"{plan['policy_backtest']}")
    out = REPO / "bench" / "results" / "demand_default.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"written {out}")


if __name__ == "__main__":
    main()
