"""Recommendation backtests on the real data sets (not a test): UCI Online Retail and Complete Journey.

    python bench/recommend_real.py [online_retail|complete_journey ...]

UCI: train before 2011-09-01, test 2011-09-01..2011-12-09. Complete Journey: the last 8 weeks
held out. Prints precision/recall/NDCG/MAP/hit rate at 10 of smartmall's re-ranker beside every
baseline of the same split, in both variants (new-to-customer items; repeats allowed), and writes
``bench/results/recommend_real.json``. Target: NDCG@10 >= 1.1x the best baseline everywhere.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from data.importers import complete_journey, online_retail  # noqa: E402
from models.recommend_backtest import MODEL_NAME, backtest  # noqa: E402


def purchases_from_contract(tables: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(order lines with customer, sku, order, time, quantity; sku -> category) from an importer's frames."""
    tx = tables["transactions"].filter(pl.col("customer_id").is_not_null()).select(
        "customer_id", "sku", "order_id", pl.col("ordered_at").str.to_datetime(), "quantity")
    return tx, tables["products"].select("sku", "category")


def datasets(names: list[str]):
    if "online_retail" in names:
        lines, cats = purchases_from_contract(online_retail.to_contract(online_retail.load()))
        yield "online_retail", lines, cats, datetime(2011, 9, 1), datetime(2011, 12, 10)
    if "complete_journey" in names:
        src = complete_journey.package_data_dir()
        lines, cats = purchases_from_contract(complete_journey.to_contract(
            pl.read_parquet(src / "transactions.parquet"), pl.read_parquet(src / "products.parquet"),
            pl.read_parquet(src / "demographics.parquet")))
        end = datetime.combine(lines["ordered_at"].max().date(), datetime.min.time()) + timedelta(days=1)
        yield "complete_journey", lines, cats, end - timedelta(weeks=8), end


def main() -> None:
    warnings.filterwarnings("ignore")
    names = sys.argv[1:] or ["online_retail", "complete_journey"]
    out = REPO / "bench" / "results" / "recommend_real.json"
    report = json.loads(out.read_text()) if out.exists() else {}
    for name, lines, cats, cutoff, end in datasets(names):
        t0 = time.perf_counter()
        result = backtest(lines, cutoff, end, item_category=cats)
        card = result.card()
        card["seconds"]["total"] = round(time.perf_counter() - t0, 1)
        report[name] = card
        print(f"{name}: train before {cutoff:%Y-%m-%d}, test to {end:%Y-%m-%d} ({card['seconds']['total']} s)")
        for variant, models in result.metrics.items():
            print(f"  {variant} items ({models[MODEL_NAME]['users']:,} customers)")
            for model, m in sorted(models.items(), key=lambda kv: -kv[1]["ndcg"]):
                print(f"    {model:<20} NDCG@10 {m['ndcg']:.4f}  P@10 {m['precision']:.4f}  R@10 {m['recall']:.4f}"
                      f"  MAP@10 {m['map']:.4f}  HR@10 {m['hit_rate']:.4f}")
            base, score = result.best_baseline(variant)
            print(f"    -> {result.ratio(variant):.3f}x the best baseline ({base} {score:.4f}); target 1.1x")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
