"""Coupon targeting on the marts: which coupon to push to whom, and whether to send at all.

The business data holds coupon *uses* (``coupon_code`` on orders), not which member was sent which
coupon, so an offer here is the monthly member coupon as if sent to every active member (a purchase
in the last 180 days) on the first of the month, redeemed when they used a coupon in the 28 days
after. ``models.coupon_targeting`` learns P(redeem) from the earlier months and is backtested on the
last complete month against an untargeted send and "past redeemers first"; the mart
``coupon_recommendations`` ranks today's active members with the coupon they take up most, the
category of their top recommendation, their RFM segment and a ``send`` flag for the top share.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from models.coupon_targeting import backtest, fit, offer_features
from models.errors import NotEnoughData
from pipelines.marts import write_empty, write_mart
from serving.registry import Registry

ACTIVE_DAYS = 180
REDEEM_DAYS = 28
MONTHS = 6  # monthly offers learnt from


def _month_starts(as_of: datetime, n: int) -> list[datetime]:
    """The first day of each of the ``n`` months whose 28-day redemption window ends before ``as_of``."""
    first = datetime(as_of.year, as_of.month, 1)
    starts = []
    while len(starts) < n and first > datetime(1990, 1, 1):
        if first + timedelta(days=REDEEM_DAYS) <= as_of:
            starts.append(first)
        first = datetime(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    return sorted(starts)


def monthly_offers(purchases: pl.DataFrame, starts: list[datetime]) -> pl.DataFrame:
    """An offer per active member and month start; redeemed = a coupon used in the next 28 days."""
    baskets = purchases.group_by("customer_id", "order_id").agg(
        ordered_at=pl.col("ordered_at").min(), coupon=pl.col("coupon_used").any())
    frames = []
    for start in starts:
        active = baskets.filter((pl.col("ordered_at") < start)
                                & (pl.col("ordered_at") >= start - timedelta(days=ACTIVE_DAYS)))["customer_id"].unique()
        used = baskets.filter(pl.col("coupon") & (pl.col("ordered_at") >= start)
                              & (pl.col("ordered_at") < start + timedelta(days=REDEEM_DAYS)))["customer_id"].unique()
        frames.append(pl.DataFrame({"customer_id": active}).with_columns(
            offer_id=pl.lit(f"member_coupon_{start:%Y-%m}"), sent_at=pl.lit(start),
            redeemed=pl.col("customer_id").is_in(used.implode())))
    return pl.concat(frames)


def build_coupon_recommendations(con: duckdb.DuckDBPyConnection, registry: Registry, share: float) -> dict:
    """``share``: of the members scored, the top share is flagged to send (``coupon_send_share``)."""
    if not 0 < share <= 1:
        raise ValueError(f"SMARTMALL_COUPON_SEND_SHARE must be a share in (0, 1], got {share}")
    purchases = con.sql("""SELECT customer_id, sku, order_id, ordered_at, CAST(net_revenue AS DOUBLE) AS net_revenue,
                                  coupon_code, coupon_code IS NOT NULL AS coupon_used
                           FROM marts.fct_order_lines WHERE customer_id IS NOT NULL AND quantity > 0""").pl()
    if purchases.is_empty():
        raise NotEnoughData("no transaction carries a customer id: no member to target",
                            "customer ids on the transactions (customer_id)")
    last = purchases["ordered_at"].max()
    as_of = datetime.combine(last.date() + timedelta(days=1), datetime.min.time())
    starts = _month_starts(as_of, MONTHS + 1)
    if len(starts) < 3:
        raise NotEnoughData("coupon targeting needs at least three months of history",
                            "at least three months of member transactions")
    offers = monthly_offers(purchases, starts)
    result = backtest(offers, purchases, starts[-1], share=share)
    # serve: refit on every month, then score today's active members (their past offers count as history)
    train = offer_features(offers, purchases).join(offers.select("customer_id", "offer_id", "sent_at", "redeemed"),
                                                   on=["customer_id", "offer_id", "sent_at"])
    model = fit(train, train["redeemed"].to_numpy())
    today = monthly_offers(purchases, [as_of]).drop("redeemed").with_columns(offer_id=pl.lit("member_coupon_next"))
    scored = offer_features(today, purchases, history=offers)
    scored = scored.with_columns(p_redeem=pl.Series(model.score(scored)))
    favourite_code = (purchases.filter(pl.col("coupon_used")).group_by("customer_id", "coupon_code").len()
                      .sort(["customer_id", "len", "coupon_code"], descending=[False, True, False])
                      .group_by("customer_id", maintain_order=True).first().select("customer_id", "coupon_code"))
    overall_code = (purchases.filter(pl.col("coupon_used")).group_by("coupon_code").len()
                    .sort("len", descending=True)["coupon_code"].first())
    top_category = con.sql("""SELECT r.customer_id, p.category FROM model_outputs.customer_recommendations r
                              JOIN marts.dim_product p USING (sku) WHERE r.variant = 'repeat' AND r.rank = 1""").pl()
    segment = con.sql("""SELECT customer_id, segment FROM model_outputs.customer_rfm
                         WHERE as_of = (SELECT max(as_of) FROM model_outputs.customer_rfm)""").pl()
    n_send = int(round(len(scored) * share))
    mart = (scored.select("customer_id", "p_redeem", "redeemed_before", "coupon_basket_share")
            .sort(["p_redeem", "customer_id"], descending=[True, False])
            .with_columns(rank=pl.int_range(1, pl.len() + 1), send=pl.int_range(pl.len()) < n_send)
            .join(favourite_code, on="customer_id", how="left").join(top_category, on="customer_id", how="left")
            .join(segment, on="customer_id", how="left")
            .with_columns(coupon_code=pl.col("coupon_code").fill_null(overall_code),
                          reason=pl.format("P(redeem) {} from {} past coupon baskets ({}% of baskets)",
                                           pl.col("p_redeem").round(3), pl.col("redeemed_before"),
                                           (pl.col("coupon_basket_share").fill_null(0) * 100).round(0)),
                          as_of=pl.lit(as_of.date()))
            .select("customer_id", "p_redeem", "rank", "send", "coupon_code", "category", "segment", "reason", "as_of")
            .sort("rank"))
    write_mart(con, "coupon_recommendations", mart)
    metrics = result["metrics"]
    ours, best = metrics["smartmall_coupon_model"], max(
        (m for name, m in metrics.items() if name != "smartmall_coupon_model"), key=lambda m: m["roc_auc"])
    passed = ours["roc_auc"] > best["roc_auc"]
    registry.register("coupon_targeting", {
        "data_window": [str(purchases["ordered_at"].min()), str(as_of)],
        "offer": f"monthly member coupon to members active in the last {ACTIVE_DAYS} days; redeemed = a coupon "
                 f"used within {REDEEM_DAYS} days",
        "backtest": {k: v for k, v in result.items() if k != "model"},
    }, {"model.pkl": model}, passed=passed)
    rate_key = f"redemption_rate_top_{int(share * 100)}pct"
    return {"members": len(mart), "sent": n_send, "backtest_roc_auc": round(ours["roc_auc"], 4),
            "best_baseline_roc_auc": round(best["roc_auc"], 4), "top_share_redemption_rate": round(ours[rate_key], 4),
            "everyone_redemption_rate": round(ours["redemption_rate_everyone"], 4), "checks_passed": passed}


def build_coupon_recommendations_or_skip(con: duckdb.DuckDBPyConnection, registry: Registry, share: float) -> dict:
    try:
        return build_coupon_recommendations(con, registry, share)
    except NotEnoughData as exc:
        write_empty(con, ("coupon_recommendations",))
        return exc.as_skip()

