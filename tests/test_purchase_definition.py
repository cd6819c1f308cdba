"""One definition of a purchase across the customer models (models/purchases.py): zero-value,
negative (returns) and single-order customers go through RFM, BG/NBD inputs, churn features and
labels and get the same answer everywhere."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from models.churn import features, labels, rft_summary
from models.rfm import rfm_table

START = datetime(2024, 1, 1)
CUTOFF = datetime(2024, 12, 1)

line = st.tuples(
    st.integers(0, 7),  # customer
    st.integers(0, 5),  # order of that customer
    st.integers(0, 400),  # day
    st.sampled_from([0.0, 0.0, 9.5, 20.0, -9.5, -20.0, 3.25]),  # net revenue: free, sold, returned
)


def _lines(rows) -> pl.DataFrame:
    df = pl.DataFrame(rows, schema=["c", "o", "day", "net_revenue"], orient="row")
    # an order happens on one day: its first line's
    df = df.with_columns(pl.col("day").first().over("c", "o"))
    return df.select(
        customer_id=pl.format("c{}", "c"), order_id=pl.format("c{}-o{}", "c", "o"),
        ordered_at=pl.lit(START) + pl.duration(days="day"), net_revenue="net_revenue",
        quantity=pl.when(pl.col("net_revenue") < 0).then(-1).otherwise(1),
    )


def _buyers(lines: pl.DataFrame, before: datetime) -> set[str]:
    """By hand: customers with an order of net revenue >= 0 before ``before``."""
    orders = lines.filter(pl.col("ordered_at") < before).group_by("customer_id", "order_id").agg(
        pl.col("net_revenue").sum())
    return set(orders.filter(pl.col("net_revenue") >= 0)["customer_id"])


@settings(max_examples=60, deadline=None)
@given(st.lists(line, min_size=1, max_size=60))
def test_every_customer_model_sees_the_same_buyers(rows):
    lines = _lines(rows)
    buyers = _buyers(lines, CUTOFF)
    rfm = rfm_table(lines, CUTOFF) if buyers else pl.DataFrame({"customer_id": []})
    assert set(rfm["customer_id"]) == buyers
    rft = rft_summary(lines, CUTOFF)
    assert set(rft["customer_id"]) == buyers
    assert (rft["frequency"] >= 0).all() and (rft["recency"] <= rft["T"]).all()
    if buyers:
        # purchase days minus one = BG/NBD frequency; every buyer has a recency and frequency >= 1 in RFM
        assert (rfm["frequency"] >= 1).all() and rfm["recency_days"].is_not_null().all()
    # churn labels: a customer "bought" in the window exactly when they have a purchase order there
    end = CUTOFF + timedelta(days=30)
    window = lines.filter(pl.col("ordered_at") >= CUTOFF)
    assert set(labels(lines, CUTOFF, 30)["customer_id"]) == _buyers(window, end)


def test_zero_value_and_single_order_customers_get_complete_features():
    rows = [(0, 0, 10, 0.0), (0, 1, 100, 0.0),  # only free orders, twice
            (1, 0, 50, 20.0),  # one order
            (2, 0, 20, 20.0), (2, 1, 60, -20.0),  # bought, then returned it
            (3, 0, 5, 9.5), (3, 1, 200, 9.5), (3, 2, 300, 3.25)]
    lines = _lines(rows)
    feats = features(lines, CUTOFF, 90)
    assert set(feats["customer_id"]) == {"c0", "c1", "c2", "c3"}
    for column in ("recency_days", "frequency", "bgnbd_p_alive", "bgnbd_p_no_purchase", "bgnbd_expected_purchases"):
        assert feats[column].is_not_null().all() and feats[column].is_not_nan().all(), column
    free = feats.filter(pl.col("customer_id") == "c0").row(0, named=True)
    assert free["frequency"] == 2 and free["monetary"] == 0
    returned = feats.filter(pl.col("customer_id") == "c2").row(0, named=True)
    assert returned["frequency"] == 1 and returned["return_orders"] == 1 and returned["monetary"] == 0
