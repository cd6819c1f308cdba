"""Churn backtests on the real data sets (not a test): UCI Online Retail and Complete Journey.

    python bench/churn_real.py

UCI: features before 2011-09-01, label = no purchase 2011-09-01..2011-12-09 (99 days). Complete
Journey: the last 90 days held out. Prints ROC AUC / PR AUC of smartmall's churn model beside every
baseline of the same split and writes ``bench/results/churn_real.json``. Target: ROC AUC >= best
baseline + 0.02 on each data set.
"""

from __future__ import annotations

import json
import sys
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from data.importers import complete_journey, online_retail  # noqa: E402
from models.churn import ChurnConfig, backtest  # noqa: E402


def _lines(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Order lines with net revenue and category, from an importer's raw-contract frames."""
    tx = tables["transactions"].with_columns(pl.col("ordered_at").str.to_datetime())
    discount = pl.col("discount_amount").fill_null(0) if "discount_amount" in tx.columns else pl.lit(0.0)
    tx = tx.with_columns(net_revenue=pl.col("quantity") * pl.col("unit_price") - discount)
    return tx.join(tables["products"].select("sku", "category"), on="sku", how="left")


def splits() -> list[tuple[str, pl.DataFrame, datetime, int]]:
    """(name, order lines, cutoff, horizon in days) of the two real churn backtests."""
    uci = _lines(online_retail.to_contract(online_retail.load()))
    src = complete_journey.package_data_dir()
    cj = _lines(complete_journey.to_contract(pl.read_parquet(src / "transactions.parquet"),
                                             pl.read_parquet(src / "products.parquet"),
                                             pl.read_parquet(src / "demographics.parquet")))
    cj_end = datetime.combine(cj["ordered_at"].max().date(), datetime.min.time()) + timedelta(days=1)
    return [("online_retail", uci, datetime(2011, 9, 1), 99),
            ("complete_journey", cj, cj_end - timedelta(days=90), 90)]


def main() -> None:
    warnings.filterwarnings("ignore")
    report = {}
    for name, lines, cutoff, horizon in splits():
        result, _ = backtest(lines, cutoff, ChurnConfig(horizon_days=horizon))
        card = result.card()
        report[name] = card
        m = card["metrics"]
        print(f"{name}: cutoff {card['cutoff']}, {card['test_rows']:,} customers, churn rate {card['churn_rate']:.3f}")
        for model, v in sorted(m.items(), key=lambda kv: -kv[1]["roc_auc"]):
            print(f"  {model:<34} ROC AUC {v['roc_auc']:.4f}  PR AUC {v['pr_auc']:.4f}")
        print(f"  lift over the best baseline ({card['best_baseline']}): {card['lift_over_best_baseline_roc_auc']:+.4f}"
              " (target +0.02)")
    out = REPO / "bench" / "results" / "churn_real.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
