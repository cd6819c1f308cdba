"""The recommendation block: backtest, train and score the recommenders on the marts.

Reads order lines, browsing events and the catalogue from the marts, calls the plain model
functions of ``models/``, writes the model outputs ``customer_recommendations``, ``similar_items`` and
``popular_items`` and records the run in the model registry (card ``recommender``). A variant whose
re-ranker does not beat the best baseline of its backtest is recorded but not served: the
best baseline's lists are written instead, and the mart says which (``scored_with``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np
import polars as pl

from data.settings import Settings
from models.errors import NotEnoughData
from models.interactions import Interactions, build_interactions
from models.recommend import (
    BaseModels,
    RecommenderConfig,
    candidates,
    fit_bare_baselines,
    fit_base_models,
)
from models.recommend_backtest import MODEL_NAME, VARIANTS, backtest, baseline_top_k
from pipelines.marts import write_empty, write_mart
from serving.registry import Registry

OUTPUTS = ("customer_recommendations", "similar_items", "popular_items")
TOP_N = 50  # recommendations kept per customer and variant: room for the serve-time filters
SIMILAR_N = 20
POPULAR_N = 50


@dataclass(frozen=True)
class RecommendSettings:
    """window_days: the backtest's test window and the re-ranker's label window; active_days:
    customers scored made a purchase within this many days (``RecommendSettings.of(settings)``)."""

    window_days: int
    active_days: int
    # lighter than the benchmark's defaults so the nightly run stays short: fewer candidates, 32 ALS
    # factors in 8 sweeps, one training window of at most 1,000 customers, 100 trees (on the default
    # demo: NDCG@10 1.11x / 1.10x the best baseline, against 1.15x / 1.11x with the full settings,
    # in 10 s instead of 45 s)
    config: RecommenderConfig = RecommenderConfig(n_als=50, n_knn=50, n_owned=60, factors=32, als_iterations=8,
                                                  training_windows=1, max_training_users=1000, trees=100)

    @classmethod
    def of(cls, settings: Settings) -> RecommendSettings:
        return cls(window_days=settings.recs_window_days, active_days=settings.recs_active_days)


@dataclass(frozen=True)
class RecommendData:
    purchases: pl.DataFrame  # customer_id, sku, order_id, ordered_at, quantity (> 0)
    events: pl.DataFrame | None  # customer_id, sku, event, occurred_at
    catalogue: pl.DataFrame  # sku, category
    regions: pl.DataFrame  # customer_id, region
    as_of: datetime


def load(con: duckdb.DuckDBPyConnection) -> RecommendData:
    purchases = con.sql("""SELECT customer_id, sku, order_id, ordered_at, quantity FROM marts.fct_order_lines
                           WHERE customer_id IS NOT NULL AND quantity > 0""").pl()
    if purchases.is_empty():
        raise NotEnoughData("no transaction carries a customer id: no one to recommend to",
                            "customer ids on the transactions (customer_id)")
    events = con.sql("""SELECT user_id AS customer_id, sku, event, occurred_at FROM marts.fct_events
                        WHERE user_id IS NOT NULL AND sku IS NOT NULL
                          AND event IN ('Product Viewed', 'Product Added')""").pl()
    catalogue = con.sql("SELECT sku, category FROM marts.dim_product").pl()
    regions = con.sql("SELECT customer_id, coalesce(region, 'unknown') AS region FROM marts.dim_customer").pl()
    last = purchases["ordered_at"].max()
    as_of = datetime.combine(last.date() + timedelta(days=1), datetime.min.time())
    return RecommendData(purchases, events if not events.is_empty() else None, catalogue, regions, as_of)


def _long(inter: Interactions, users: np.ndarray, top: np.ndarray, scores: np.ndarray, variant: str,
          scored_with: str, as_of: datetime) -> pl.DataFrame:
    """(users x k) item grid -> one row per (customer, rank)."""
    k = top.shape[1]
    frame = pl.DataFrame({
        "user_idx": np.repeat(users, k).astype(np.int32), "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), len(users)),
        "item_idx": top.ravel(), "score": scores.ravel(),
    }).filter(pl.col("item_idx") >= 0)
    return frame.select(
        customer_id=inter.users.gather(frame["user_idx"]), variant=pl.lit(variant), rank=pl.col("rank"),
        sku=inter.items.gather(frame["item_idx"]), score=pl.col("score"), scored_with=pl.lit(scored_with),
        as_of=pl.lit(as_of.date()))


def build_recommendations(con: duckdb.DuckDBPyConnection, data: RecommendData, registry: Registry,
                          settings: RecommendSettings) -> dict:
    config, window = settings.config, timedelta(days=settings.window_days)
    t0 = time.perf_counter()
    result = backtest(data.purchases, data.as_of - window, data.as_of, config, events=data.events,
                      item_category=data.catalogue)
    card = result.card()
    serve = {v: MODEL_NAME if result.ratio(v) > 1.0 else result.best_baseline(v)[0] for v in VARIANTS}
    seconds = {"backtest": round(time.perf_counter() - t0, 1)}

    t1 = time.perf_counter()
    inter = build_interactions(data.purchases, data.as_of, data.events, config.weights)
    base = fit_base_models(inter.matrix, config)
    active = inter.history.filter(pl.col("last_at") >= data.as_of - timedelta(days=settings.active_days))
    users = np.sort(active["user_idx"].unique().to_numpy()).astype(np.int64)
    frames = []
    # the re-rankers served are the ones the backtest scored (labels up to as_of - window), now fed
    # features as of today: no second training, and the figures on the card are the served model's
    rerankers = {v: r for v, r in result.rerankers.items() if serve[v] == MODEL_NAME}
    for variant in VARIANTS:
        new_only = variant == "new"
        if variant in rerankers:
            reranker = rerankers[variant]
            for chunk in np.array_split(users, max(1, len(users) // 5000)):  # bounded candidate frames
                cand = candidates(inter, base, chunk, config, new_only, data.catalogue)
                top, score = reranker.top_k(cand, chunk, TOP_N, with_scores=True)
                frames.append(_long(inter, chunk, top, score, variant, MODEL_NAME, data.as_of))
        else:  # the baselines see plain purchase counts, as in the backtest
            bare = fit_bare_baselines(inter.purchases, config.seed)
            top = baseline_top_k(serve[variant], inter, bare, users, TOP_N, new_only)
            score = np.where(top >= 0, 1.0 / np.arange(1, TOP_N + 1), 0.0)
            frames.append(_long(inter, users, top, score, variant, serve[variant], data.as_of))
    recs = pl.concat(frames)
    write_mart(con, "customer_recommendations", recs)
    write_mart(con, "similar_items", similar_items(inter, base))
    write_mart(con, "popular_items", popular_by_region_and_category(data))
    seconds["score"] = round(time.perf_counter() - t1, 1)
    passed = all(serve[v] == MODEL_NAME for v in VARIANTS)
    registry.register("recommender", {
        "data_window": [str(data.purchases["ordered_at"].min()), str(data.as_of)],
        "parameters": {k: v for k, v in vars(config).items() if k != "weights"} | {"weights": vars(config.weights)},
        "backtest": card, "served": serve, "seconds": seconds,
        "baselines": "popularity, repeat_buy, implicit_als (64 factors, BM25), implicit_item_knn (BM25Recommender)",
    }, {"model.pkl": {"rerankers": rerankers, "config": config}}, passed=passed)
    return {"customers": len(users), "rows": len(recs), "served": serve, "seconds": seconds,
            "ndcg": {v: card["metrics"][v][MODEL_NAME]["ndcg"] for v in VARIANTS},
            "best_baseline": {v: list(result.best_baseline(v)) for v in VARIANTS},
            "ndcg_ratio": card["ndcg_ratio_to_best_baseline"]}


def similar_items(inter: Interactions, base: BaseModels, n: int = SIMILAR_N) -> pl.DataFrame:
    """Top ``n`` neighbours per SKU from the item-kNN similarity (self left out)."""
    sim = base.knn.similarity.tocoo()
    frame = (pl.DataFrame({"a": sim.row.astype(np.int32), "b": sim.col.astype(np.int32), "score": sim.data})
             .filter(pl.col("a") != pl.col("b"))
             .sort(["a", "score"], descending=[False, True])
             .group_by("a", maintain_order=True).head(n)
             .with_columns(rank=pl.int_range(1, pl.len() + 1).over("a").cast(pl.Int32)))
    return frame.select(sku=inter.items.gather(frame["a"]), rank="rank", similar_sku=inter.items.gather(frame["b"]),
                        score=pl.col("score").cast(pl.Float64))


def popular_by_region_and_category(data: RecommendData, n: int = POPULAR_N) -> pl.DataFrame:
    """Cold start: the most bought SKUs of the last 28 days by region x category, with 'all' rows."""
    since = data.as_of - timedelta(days=28)
    lines = (data.purchases.join(data.regions, on="customer_id", how="left")
             .join(data.catalogue, on="sku", how="left")
             .with_columns(pl.col("region").fill_null("unknown"), pl.col("category").fill_null("Uncategorised")))
    scopes = []
    for region, category in ((pl.col("region"), pl.col("category")), (pl.col("region"), pl.lit("all")),
                             (pl.lit("all"), pl.col("category")), (pl.lit("all"), pl.lit("all"))):
        scopes.append(lines.with_columns(region=region, category=category).group_by("region", "category", "sku").agg(
            buyers_28d=pl.col("customer_id").filter(pl.col("ordered_at") >= since).n_unique().cast(pl.Int64),
            buyers=pl.col("customer_id").n_unique().cast(pl.Int64)))
    return (pl.concat(scopes)
            .sort(["region", "category", "buyers_28d", "buyers", "sku"], descending=[False, False, True, True, False])
            .group_by("region", "category", maintain_order=True).head(n)
            .with_columns(rank=pl.int_range(1, pl.len() + 1).over("region", "category").cast(pl.Int32))
            .select("region", "category", "rank", "sku", "buyers_28d", "buyers"))


def build_recommendations_or_skip(con: duckdb.DuckDBPyConnection, registry: Registry,
                                  settings: RecommendSettings) -> dict:
    """``build_recommendations`` on the marts. When the data is too thin: empty outputs with their
    columns (the serving publish then refuses to replace the lists the shop is served, see
    ``serving.published``). Any other error propagates."""
    try:
        return build_recommendations(con, load(con), registry, settings)
    except NotEnoughData as exc:  # no customer purchases, or too little history for a time split
        write_empty(con, OUTPUTS)
        return exc.as_skip()
