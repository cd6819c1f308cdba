"""Customer x SKU interaction matrices from purchases and weighted browsing events.

Input frames (polars):
- ``purchases``: one row per order line with ``customer_id`` (str), ``sku`` (str), ``order_id`` (str),
  ``ordered_at`` (datetime), ``quantity`` (> 0 for a sale; returns are left out by the caller);
- ``events`` (optional): ``customer_id``, ``sku``, ``event`` (Segment names), ``occurred_at``.

Purchases count once per order (a case of 24 mugs is one purchase, not 24); browsing adds
``weights.view`` per product view and ``weights.add_to_cart`` per add, so that a purchase outweighs
an add, which outweighs a view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np
import polars as pl
import scipy.sparse as sp

from models.errors import NotEnoughData

LN2 = math.log(2)
BROWSE_EVENTS = {"Product Viewed": "view", "Product Added": "add_to_cart"}


@dataclass(frozen=True)
class InteractionWeights:
    """Confidence added by one interaction of each kind; purchase > add_to_cart > view."""

    purchase: float = 1.0
    add_to_cart: float = 0.3
    view: float = 0.05

    def __post_init__(self) -> None:
        if not (self.purchase > self.add_to_cart > self.view >= 0):
            raise ValueError(f"weights must satisfy purchase > add_to_cart > view >= 0, got {self}")


@dataclass(frozen=True)
class Interactions:
    """Indexed history before ``cutoff``.

    ``matrix``: (n_users, n_items) float32 CSR of weighted interactions; ``purchases``: the same
    shape, distinct orders containing the item; ``users`` / ``items``: the ids in index order;
    ``history``: per (user_idx, item_idx) the orders containing the item (all, last 30 and 90 days,
    and summed with recency half-lives of 14 and 56 days), the distinct days bought and the first/last
    purchase time; ``baskets``: orders per user. ``history`` and ``baskets`` are computed on first
    use: the matrix factorisation needs only the matrix (their aggregations would cost half of its
    matrix build), the re-ranker needs them.
    """

    users: pl.Series
    items: pl.Series
    matrix: sp.csr_matrix
    purchases: sp.csr_matrix
    cutoff: datetime
    past: pl.DataFrame = field(repr=False)  # the purchases before cutoff the rest is built from

    @cached_property
    def history(self) -> pl.DataFrame:
        user_ids, item_ids = self.user_frame(), self.item_frame()
        age_days = (pl.lit(self.cutoff) - pl.col("ordered_at")).dt.total_seconds() / 86400.0
        return (
            self.past.unique(["customer_id", "sku", "order_id"])  # one purchase per order
            .with_columns(age=age_days)
            .group_by("customer_id", "sku")
            .agg(orders=pl.len(), first_at=pl.col("ordered_at").min(),
                 last_at=pl.col("ordered_at").max(), days=pl.col("ordered_at").dt.date().n_unique(),
                 orders_30d=(pl.col("age") <= 30).sum(), orders_90d=(pl.col("age") <= 90).sum(),
                 # purchases weighted by recency (half-lives of 2 and 8 weeks)
                 decayed_14d=pl.col("age").mul(-LN2 / 14).exp().sum(),
                 decayed_56d=pl.col("age").mul(-LN2 / 56).exp().sum())
            .join(user_ids, on="customer_id").join(item_ids, on="sku")
            .select("user_idx", "item_idx", "orders", "days", "first_at", "last_at", "orders_30d", "orders_90d",
                    "decayed_14d", "decayed_56d")
            .sort("user_idx", "item_idx")
        )

    @cached_property
    def baskets(self) -> pl.DataFrame:
        """Per user_idx: distinct orders (all, last 90 days)."""
        return self.past.group_by("customer_id").agg(
            baskets=pl.col("order_id").n_unique(),
            baskets_90d=pl.col("order_id").filter(pl.col("ordered_at") >= self.cutoff - timedelta(days=90)).n_unique(),
        ).join(self.user_frame(), on="customer_id").select("user_idx", "baskets", "baskets_90d")

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def user_index(self, customer_ids: pl.Series) -> pl.DataFrame:
        """customer_id -> user_idx for the ids known here (unknown ids are left out)."""
        return self.user_frame().join(pl.DataFrame({"customer_id": customer_ids.unique()}), on="customer_id",
                                      how="semi")

    def user_frame(self) -> pl.DataFrame:
        return _index_frame(self.users, "customer_id", "user_idx")

    def item_frame(self) -> pl.DataFrame:
        return _index_frame(self.items, "sku", "item_idx")


def _index_frame(ids: pl.Series, id_column: str, index_column: str) -> pl.DataFrame:
    """ids in index order -> (id, int32 index) frame."""
    return pl.DataFrame({id_column: ids, index_column: np.arange(len(ids), dtype=np.int32)})


def _csr(frame: pl.DataFrame, value: str, shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix(
        (frame[value].to_numpy().astype(np.float32),
         (frame["user_idx"].to_numpy(), frame["item_idx"].to_numpy())), shape=shape)


def build_interactions(purchases: pl.DataFrame, cutoff: datetime, events: pl.DataFrame | None = None,
                       weights: InteractionWeights = InteractionWeights()) -> Interactions:
    """Interactions strictly before ``cutoff``; users and items are those with a purchase before it."""
    past = purchases.filter((pl.col("ordered_at") < cutoff) & pl.col("customer_id").is_not_null()
                            & (pl.col("quantity") > 0))
    if past.is_empty():
        raise NotEnoughData(f"no purchase before {cutoff}: nothing to learn from",
                            "a longer purchase history (the backtest holds out its last weeks)")
    # distinct orders per customer x SKU: all the matrix needs (``Interactions.history`` has the rest)
    counts = past.group_by("customer_id", "sku").agg(orders=pl.col("order_id").n_unique())
    users = counts["customer_id"].unique().sort()
    items = counts["sku"].unique().sort()
    user_ids, item_ids = _index_frame(users, "customer_id", "user_idx"), _index_frame(items, "sku", "item_idx")
    counts = counts.join(user_ids, on="customer_id").join(item_ids, on="sku").select("user_idx", "item_idx", "orders")
    shape = (len(users), len(items))
    bought = _csr(counts, "orders", shape)
    weighted = counts.select("user_idx", "item_idx", value=pl.col("orders").cast(pl.Float64) * weights.purchase)
    if events is not None and not events.is_empty():
        kind = pl.col("event").replace_strict(BROWSE_EVENTS, default=None)
        browse = (
            events.filter((pl.col("occurred_at") < cutoff) & pl.col("customer_id").is_not_null()
                          & pl.col("sku").is_not_null())
            .with_columns(kind=kind).filter(pl.col("kind").is_not_null())
            .with_columns(value=pl.when(pl.col("kind") == "view").then(weights.view).otherwise(weights.add_to_cart))
            .group_by("customer_id", "sku").agg(pl.col("value").sum())
            .join(user_ids, on="customer_id").join(item_ids, on="sku")
            .select("user_idx", "item_idx", "value")
        )
        weighted = pl.concat([weighted, browse]).group_by("user_idx", "item_idx").agg(pl.col("value").sum())
    return Interactions(users, items, _csr(weighted, "value", shape), bought, cutoff, past)


def relevant_after(purchases: pl.DataFrame, inter: Interactions, end: datetime,
                   new_only: bool) -> sp.csr_matrix:
    """(n_users, n_items) CSR marking what each known user bought in [cutoff, end).

    With ``new_only`` the items the user had bought before the cutoff are left out. Items first
    sold after the cutoff cannot be recommended by any model and are not counted.
    """
    window = (
        purchases.filter((pl.col("ordered_at") >= inter.cutoff) & (pl.col("ordered_at") < end)
                         & (pl.col("quantity") > 0))
        .select("customer_id", "sku").unique()
        .join(inter.user_index(purchases["customer_id"].drop_nulls()), on="customer_id")
        .join(inter.item_frame(), on="sku")
        .with_columns(value=pl.lit(1.0))
    )
    if new_only:
        window = window.join(inter.history.select("user_idx", "item_idx"), on=["user_idx", "item_idx"], how="anti")
    matrix = _csr(window, "value", (inter.n_users, inter.n_items))
    matrix.sum_duplicates()
    return matrix
