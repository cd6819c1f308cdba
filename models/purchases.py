"""One definition of a purchase for every customer model (RFM, BG/NBD, Gamma-Gamma, churn).

An order is the sum of its lines. A **purchase** is an order whose net revenue is >= 0: zero-value
orders (free samples, fully discounted baskets) are purchases with no spend; an order whose net
revenue is negative is a **return** (it nets against spend but is not a visit that buys). A
customer's spend is the net revenue of all their orders, returns included.
"""

from __future__ import annotations

import polars as pl


def is_purchase(net_revenue: str = "net_revenue") -> pl.Expr:
    """True for an order (not a line) that is a purchase: net revenue >= 0."""
    return pl.col(net_revenue) >= 0


def orders(lines: pl.DataFrame) -> pl.DataFrame:
    """Lines (customer_id, order_id, ordered_at, net_revenue) -> one row per customer x order:
    ordered_at (its first line), net_revenue (sum, in the lines' money) and ``purchase`` (bool)."""
    return (
        lines.group_by("customer_id", "order_id")
        .agg(pl.col("ordered_at").min(), pl.col("net_revenue").cast(pl.Float64).sum())
        .with_columns(purchase=is_purchase())
    )


def purchases(lines: pl.DataFrame) -> pl.DataFrame:
    """The purchase orders of ``orders(lines)``."""
    return orders(lines).filter(pl.col("purchase"))
