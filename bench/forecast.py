"""Forecast benchmark (not a test): Complete Journey weekly units, the 500 highest-volume
product x store series, the last 8 weeks held out.

    python bench/forecast.py [--series 500] [--horizon 8]

Every model forecasts the same 8 weeks from the same origin: naive, seasonal naive, 4-week moving
average, statsmodels damped ETS per series, a plain LightGBM global model with lags and promotion
flags, and smartmall's global LightGBM. Prints MASE, RMSSE, WAPE and bias per model, the ratio of
ours to the best baseline (target <= 0.95), the best model per demand class, and the seconds;
writes ``bench/results/forecast_cj.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from data.importers.complete_journey import FULL_WEEKS, weekly_demand  # noqa: E402
from models.forecast import (  # noqa: E402
    best_model_per_class,
    demand_class,
    holdout_backtest,
    panel_from_long,
    rolling_origin_backtest,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--horizon", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()
    long = weekly_demand(args.series)
    weeks = list(range(FULL_WEEKS[0], FULL_WEEKS[1] + 1))
    panel = panel_from_long(long, ["sku", "store_id"], "week", "units", weeks, promo="promo", price="price")
    loaded = time.perf_counter() - started
    result = holdout_backtest(panel, args.horizon)
    seconds = time.perf_counter() - started - loaded
    rolling = rolling_origin_backtest(panel, args.horizon, origins=3, step=4)
    classes = demand_class(panel.y[:, :result.origin])
    picks = best_model_per_class(result, classes, tuple(result.metrics))
    card = result.card()
    for name, m in sorted(result.metrics.items(), key=lambda kv: kv[1]["mase"]):
        print(f"  {name:<28} MASE {m['mase']:.3f}  RMSSE {m['rmsse']:.3f}  WAPE {m['wape']:.3f}  bias {m['bias']:+.3f}")
    print(f"series {panel.y.shape[0]}, weeks {panel.y.shape[1]}, zero weeks {float((panel.y == 0).mean()):.1%}; "
          f"smartmall / best baseline ({result.best_baseline}) MASE = {card['mase_vs_best_baseline']:.3f} "
          f"(target <= 0.95); load {loaded:.1f}s, all models {seconds:.1f}s")
    print("best model per demand class:", picks)
    print(f"rolling origin (3 origins, 4 weeks apart): smartmall MASE {rolling.metrics['smartmall_lightgbm']['mase']:.3f}"
          f" vs {rolling.best_baseline} {rolling.metrics[rolling.best_baseline]['mase']:.3f} = "
          f"{rolling.card()['mase_vs_best_baseline']:.3f}")
    report = {"data": "Complete Journey weekly units, full weeks 2-52 of 2017, fuel/kiosk/misc excluded",
              "series": int(panel.y.shape[0]), "weeks": int(panel.y.shape[1]), **card,
              "demand_classes": {str(c): int((classes == c).sum()) for c in np.unique(classes)},
              "best_model_per_class": picks, "rolling_origin_3x4": rolling.card(), "seconds": {"load": round(loaded, 1), "models": round(seconds, 1)},
              "target_ratio": 0.95}
    out = REPO / "bench" / "results" / "forecast_cj.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
