"""Coupon targeting: who will redeem an offer, so that a campaign goes to the customers it moves.

An *offer* is one coupon or campaign sent to one customer: a frame ``offers`` with ``customer_id``,
``offer_id``, ``sent_at`` (datetime) and, where known, ``redeemed`` (bool). ``purchases`` are order
lines (``customer_id, sku, order_id, ordered_at, net_revenue``, plus ``coupon_used`` (bool) when the
data says which lines used a coupon); ``offer_items`` (optional) maps ``offer_id -> sku`` for offers on
given products. Features are computed strictly before each offer's ``sent_at``:

- recency, frequency and spend over 90 days and in all, tenure;
- promotion sensitivity: share of past baskets with a coupon, past offers received and redeemed;
- affinity: past baskets holding one of the offer's products, and their share of the customer's baskets.

A LightGBM classifier scores P(redeem). ``backtest`` trains on offers sent before a cutoff and tests on
the later ones against two baselines on the same offers: *untargeted* (a random pick of the same size:
its redemption rate is that of sending to everyone) and *past redeemers first* (ranked by the
customer's past redemptions and coupon use).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from models.errors import NotEnoughData

FEATURES = ("days_since_last", "baskets", "baskets_90d", "spend", "spend_90d", "tenure_days", "coupon_basket_share",
            "offers_before", "redeemed_before", "redeem_rate_before", "offer_item_baskets", "offer_item_share",
            "offer_item_days_since")


def _baskets(purchases: pl.DataFrame) -> pl.DataFrame:
    coupon = pl.col("coupon_used") if "coupon_used" in purchases.columns else pl.lit(False)
    return purchases.group_by("customer_id", "order_id").agg(
        ordered_at=pl.col("ordered_at").min(), spend=pl.col("net_revenue").sum(), coupon=coupon.any())


def offer_features(offers: pl.DataFrame, purchases: pl.DataFrame, offer_items: pl.DataFrame | None = None,
                   history: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per offer with ``FEATURES``, from what happened before its ``sent_at``.

    ``history``: earlier offers (``customer_id, sent_at, redeemed``) for the redemption features;
    defaults to ``offers`` itself (only offers sent strictly earlier count).
    """
    keys = offers.select("customer_id", "offer_id", "sent_at").unique()
    baskets = _baskets(purchases)
    per_sent = keys.select("customer_id", "sent_at").unique()
    joined = per_sent.join(baskets, on="customer_id").filter(pl.col("ordered_at") < pl.col("sent_at"))
    age = (pl.col("sent_at") - pl.col("ordered_at")).dt.total_seconds() / 86400
    rfm = joined.with_columns(age=age).group_by("customer_id", "sent_at").agg(
        days_since_last=pl.col("age").min(), tenure_days=pl.col("age").max(), baskets=pl.len(),
        baskets_90d=(pl.col("age") <= 90).sum(), spend=pl.col("spend").sum(),
        spend_90d=pl.col("spend").filter(pl.col("age") <= 90).sum(), coupon_basket_share=pl.col("coupon").mean())
    past = (history if history is not None else offers).select("customer_id", pl.col("sent_at").alias("past_at"),
                                                                "redeemed")
    redemptions = (per_sent.join(past, on="customer_id").filter(pl.col("past_at") < pl.col("sent_at"))
                   .group_by("customer_id", "sent_at")
                   .agg(offers_before=pl.len(), redeemed_before=pl.col("redeemed").cast(pl.Int64).sum()))
    out = (keys.join(rfm, on=["customer_id", "sent_at"], how="left")
           .join(redemptions, on=["customer_id", "sent_at"], how="left"))
    if offer_items is not None:
        lines = purchases.select("customer_id", "order_id", "sku", "ordered_at").join(offer_items, on="sku")
        affinity = (keys.join(lines, on=["customer_id", "offer_id"]).filter(pl.col("ordered_at") < pl.col("sent_at"))
                    .group_by("customer_id", "offer_id", "sent_at")
                    .agg(offer_item_baskets=pl.col("order_id").n_unique(),
                         offer_item_days_since=((pl.col("sent_at") - pl.col("ordered_at")).dt.total_seconds()
                                                / 86400).min()))
        out = out.join(affinity, on=["customer_id", "offer_id", "sent_at"], how="left")
    else:
        out = out.with_columns(offer_item_baskets=pl.lit(None, pl.UInt32), offer_item_days_since=pl.lit(None, pl.Float64))
    return out.with_columns(
        pl.col("baskets", "baskets_90d", "offers_before", "redeemed_before", "offer_item_baskets").fill_null(0),
        pl.col("spend", "spend_90d").fill_null(0.0),
    ).with_columns(
        redeem_rate_before=(pl.col("redeemed_before") + 0.1) / (pl.col("offers_before") + 1),
        offer_item_share=pl.col("offer_item_baskets") / pl.col("baskets").clip(1, None),
    )


@dataclass
class CouponModel:
    booster: object

    def score(self, features: pl.DataFrame) -> np.ndarray:
        """P(redeem) per row of ``offer_features`` output."""
        return self.booster.predict(features.select(FEATURES).to_numpy().astype(np.float64))


def fit(features: pl.DataFrame, redeemed: np.ndarray, seed: int = 7) -> CouponModel:
    """LightGBM on offer features; ``redeemed`` (bool, one per row) is the label."""
    import lightgbm as lgb

    if redeemed.sum() == 0 or redeemed.all():
        raise NotEnoughData("coupon targeting needs offers both redeemed and not redeemed to learn from",
                            "coupon codes on the transactions (coupon_code)")
    model = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.03, num_leaves=15, min_child_samples=50,
                               subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0,
                               random_state=seed, n_jobs=2, verbose=-1)
    model.fit(features.select(FEATURES).to_numpy().astype(np.float64), redeemed.astype(int))
    return CouponModel(model.booster_)


def targeting_metrics(score: np.ndarray, redeemed: np.ndarray, share: float = 0.2) -> dict[str, float]:
    """ROC AUC; redemption rate of the top ``share`` by score beside the send-to-everyone rate; the share
    of all redemptions that sending to that top ``share`` alone would have kept."""
    from sklearn.metrics import roc_auc_score

    n_top = max(1, int(round(len(score) * share)))
    top = np.argsort(-score, kind="stable")[:n_top]
    everyone = float(redeemed.mean())
    top_rate = float(redeemed[top].mean())
    return {"roc_auc": float(roc_auc_score(redeemed, score)), "offers": int(len(score)),
            "redemption_rate_everyone": everyone, f"redemption_rate_top_{int(share * 100)}pct": top_rate,
            f"lift_top_{int(share * 100)}pct": top_rate / everyone if everyone else float("nan"),
            f"redemptions_kept_top_{int(share * 100)}pct": float(redeemed[top].sum() / max(redeemed.sum(), 1))}


def backtest(offers: pl.DataFrame, purchases: pl.DataFrame, cutoff: datetime,
             offer_items: pl.DataFrame | None = None, share: float = 0.2) -> dict:
    """Train on offers sent before ``cutoff``, test on offers sent from it on; baselines on the same offers."""
    features = offer_features(offers, purchases, offer_items).join(
        offers.select("customer_id", "offer_id", "sent_at", "redeemed"), on=["customer_id", "offer_id", "sent_at"])
    train = features.filter(pl.col("sent_at") < cutoff)
    test = features.filter(pl.col("sent_at") >= cutoff)
    if train.is_empty() or test.is_empty():
        raise NotEnoughData(f"coupon backtest needs offers before and after {cutoff}",
                            "a longer history of member transactions with coupon codes")
    model = fit(train, train["redeemed"].to_numpy())
    y = test["redeemed"].to_numpy().astype(bool)
    past_first = (test["redeemed_before"] * 10 + test["coupon_basket_share"].fill_null(0)).to_numpy()
    rng = np.random.default_rng(0)
    metrics = {
        "smartmall_coupon_model": targeting_metrics(model.score(test), y, share),
        "baseline_past_redeemers_first": targeting_metrics(past_first + rng.random(len(y)) * 1e-6, y, share),
        "baseline_untargeted": targeting_metrics(rng.random(len(y)), y, share),  # a random pick: no targeting
    }
    return {"cutoff": str(cutoff), "train_offers": len(train), "test_offers": len(test), "share_targeted": share,
            "metrics": metrics, "model": model}
