"""Coupon targeting: features from the past only, metric definitions, real campaigns, the pipeline mart."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
import pytest

from models.coupon_targeting import offer_features, targeting_metrics
from tests.helpers import query


def test_offer_features_see_only_what_happened_before_the_offer():
    purchases = pl.DataFrame({
        "customer_id": ["a", "a", "a", "b"], "order_id": ["o1", "o2", "o3", "o4"], "sku": ["x", "y", "x", "x"],
        "ordered_at": [datetime(2025, 1, 1), datetime(2025, 2, 1), datetime(2025, 3, 15), datetime(2025, 3, 20)],
        "net_revenue": [10.0, 20.0, 30.0, 5.0], "coupon_used": [True, False, True, False]})
    offers = pl.DataFrame({"customer_id": ["a", "a", "b"], "offer_id": ["jan", "mar", "mar"],
                           "sent_at": [datetime(2025, 1, 20), datetime(2025, 3, 1), datetime(2025, 3, 1)],
                           "redeemed": [True, False, False]})
    items = pl.DataFrame({"offer_id": ["mar"], "sku": ["x"]})
    f = offer_features(offers, purchases, items).sort("customer_id", "sent_at")
    a_mar = f.filter((pl.col("customer_id") == "a") & (pl.col("offer_id") == "mar")).row(0, named=True)
    assert a_mar["baskets"] == 2 and a_mar["spend"] == 30.0  # the 15 March order is after the offer
    assert a_mar["coupon_basket_share"] == pytest.approx(0.5)
    assert a_mar["offers_before"] == 1 and a_mar["redeemed_before"] == 1  # January's offer, redeemed
    assert a_mar["offer_item_baskets"] == 1 and a_mar["offer_item_days_since"] == pytest.approx(59.0)
    b_mar = f.filter(pl.col("customer_id") == "b").row(0, named=True)
    assert b_mar["baskets"] == 0 and b_mar["offers_before"] == 0 and b_mar["offer_item_baskets"] == 0


def test_targeting_metrics_match_a_hand_computed_example():
    score = np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.05])
    redeemed = np.array([1, 0, 0, 0, 0, 0, 0, 0, 1, 0], dtype=bool)
    m = targeting_metrics(score, redeemed, share=0.2)  # the top 2 are offers 0 and 1
    assert m["redemption_rate_everyone"] == pytest.approx(0.2)
    assert m["redemption_rate_top_20pct"] == pytest.approx(0.5)
    assert m["lift_top_20pct"] == pytest.approx(2.5)
    assert m["redemptions_kept_top_20pct"] == pytest.approx(0.5)
    assert m["roc_auc"] == pytest.approx((8 + 7) / 16)  # positives outrank 8 and 7 of the 8 negatives


def test_coupon_model_beats_the_baselines_on_complete_journey_campaigns():
    """84.51 Complete Journey: campaigns before 2017-08-01 to learn from, the later ones to test on."""
    from bench.coupon_real import CUTOFF, complete_journey_offers
    from models.coupon_targeting import backtest

    offers, purchases, items = complete_journey_offers()
    result = backtest(offers, purchases, CUTOFF, items)
    m = result["metrics"]
    ours = m["smartmall_coupon_model"]
    assert result["train_offers"] > 1000 and result["test_offers"] > 1000
    assert ours["roc_auc"] > m["baseline_past_redeemers_first"]["roc_auc"]
    assert ours["redemption_rate_top_20pct"] > 2 * ours["redemption_rate_everyone"]


def test_coupon_recommendations_on_small_synthetic(small_home):
    n, sent, bad_rank = query(small_home, """SELECT count(*), count(*) FILTER (WHERE send),
        count(*) - count(DISTINCT rank) FROM marts.coupon_recommendations""")[0]
    assert n > 100 and bad_rank == 0 and sent == round(n * 0.2)
    assert query(small_home, """SELECT count(*) FROM marts.coupon_recommendations
        WHERE coupon_code IS NULL OR p_redeem NOT BETWEEN 0 AND 1""")[0][0] == 0
    # the generator uses a coupon on a member's order with probability 0.03 + 0.25 x their hidden promotion
    # sensitivity (data/synthetic/orders.py), and members order at their own hidden rate: the ranking by
    # P(redeem) must follow that coupon intensity (Spearman correlation)
    rho = query(small_home, f"""SELECT corr(by_model, by_truth) FROM (
        SELECT rank() OVER (ORDER BY c.p_redeem) AS by_model,
               rank() OVER (ORDER BY t.purchase_rate_per_day * (0.03 + 0.25 * t.promo_sensitivity)) AS by_truth
        FROM marts.coupon_recommendations c
        JOIN '{small_home}/landing/_truth/customers.parquet' t USING (customer_id))""")[0][0]
    assert rho > 0.4, rho
