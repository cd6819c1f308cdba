"""Coupon targeting backtest on Complete Journey's campaigns (not a test).

    python bench/coupon_real.py

Offers = the households each of the 27 campaigns was sent to (``campaigns``), sent at the campaign's
start; redeemed = the household redeemed one of the campaign's coupons. Trained on campaigns that
started before 2017-08-01, tested on the later ones. Prints ROC AUC and the redemption rate of the
top 20 % by score beside "send to everyone" and "past redeemers first" on the same offers, and
writes ``bench/results/coupon_real.json``.
"""

from __future__ import annotations

import json
import sys
import warnings
from datetime import datetime
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from data.importers import complete_journey  # noqa: E402
from models.coupon_targeting import backtest  # noqa: E402

CUTOFF = datetime(2017, 8, 1)


def complete_journey_offers() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(offers, purchases, offer_items) in the frames ``models.coupon_targeting`` reads."""
    src = complete_journey.package_data_dir()
    tx = pl.read_parquet(src / "transactions.parquet")
    purchases = tx.select(customer_id=pl.col("household_id").cast(pl.Utf8), sku=pl.col("product_id").cast(pl.Utf8),
                          order_id=pl.col("basket_id").cast(pl.Utf8), ordered_at=pl.col("transaction_timestamp"),
                          net_revenue=pl.col("sales_value"), coupon_used=pl.col("coupon_disc") > 0)
    campaigns = pl.read_parquet(src / "campaigns.parquet").join(
        pl.read_parquet(src / "campaign_descriptions.parquet"), on="campaign_id")
    redeemed = pl.read_parquet(src / "coupon_redemptions.parquet").select("household_id", "campaign_id").unique()
    offers = campaigns.join(redeemed.with_columns(redeemed=pl.lit(True)), on=["household_id", "campaign_id"],
                            how="left").select(
        customer_id=pl.col("household_id").cast(pl.Utf8), offer_id=pl.col("campaign_id").cast(pl.Utf8),
        sent_at=pl.col("start_date").cast(pl.Datetime("us")), redeemed=pl.col("redeemed").fill_null(False))
    items = pl.read_parquet(src / "coupons.parquet").select(
        offer_id=pl.col("campaign_id").cast(pl.Utf8), sku=pl.col("product_id").cast(pl.Utf8)).unique()
    return offers, purchases.with_columns(pl.col("ordered_at").cast(pl.Datetime("us"))), items


def main() -> None:
    warnings.filterwarnings("ignore")
    offers, purchases, items = complete_journey_offers()
    result = backtest(offers, purchases, CUTOFF, items)
    result.pop("model")
    print(f"Complete Journey campaigns: {result['train_offers']:,} offers before {CUTOFF:%Y-%m-%d} to learn from, "
          f"{result['test_offers']:,} after it to test on")
    for name, m in result["metrics"].items():
        print(f"  {name:<32} ROC AUC {m['roc_auc']:.4f}  redemption rate top 20% {m['redemption_rate_top_20pct']:.4f} "
              f"(everyone {m['redemption_rate_everyone']:.4f}, lift {m['lift_top_20pct']:.2f}x, "
              f"redemptions kept {m['redemptions_kept_top_20pct']:.2f})")
    out = REPO / "bench" / "results" / "coupon_real.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
