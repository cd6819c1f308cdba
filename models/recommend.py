"""Implicit-feedback recommendations: baselines, candidate generation and a learned re-ranker.

Every recommender here answers the same question for an array of user indices: the top ``k``
item indices per user, best first, as an ``(n_users, k)`` int array padded with -1. With
``new_only`` the items the user bought before are never recommended ("new to customer");
without it re-buying is allowed, which is what grocery shoppers mostly do.

smartmall's model is a two-stage recommender: candidates from the customer's own history,
implicit ALS, implicit item-kNN (BM25) and recent popularity, re-ranked by a LightGBM
LambdaRank model on re-purchase-cycle, recency, trend, category-affinity and collaborative
scores. The re-ranker learns from the windows just before the cutoff (for each, features before
``end - window`` and labels in ``[end - window, end)``), so it never sees the test period.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import scipy.sparse as sp

from models.errors import NotEnoughData
from models.interactions import Interactions, InteractionWeights, build_interactions, relevant_after

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit warns (and is slower) with threaded BLAS


@dataclass(frozen=True)
class RecommenderConfig:
    factors: int = 64
    als_iterations: int = 15
    als_regularization: float = 0.05
    knn_neighbours: int = 100
    n_als: int = 100  # candidates from each source
    n_knn: int = 100
    n_popular: int = 50
    n_owned: int = 200  # at most this many of the customer's own items (most bought first)
    recency_half_life_days: float = 30.0
    training_windows: int = 2  # label windows stacked to train the re-ranker
    max_training_users: int | None = None  # queries per window (a seeded sample above this)
    # a small, strongly regularised ranker: the label window of training is not the test's season,
    # and deeper trees learn the season (measured on both real data sets, bench/recommend_real.py)
    trees: int = 150
    learning_rate: float = 0.05
    leaves: int = 7
    min_child_samples: int = 500
    seed: int = 7
    weights: InteractionWeights = field(default_factory=InteractionWeights)


# ---------------------------------------------------------------- base models


@dataclass
class BaseModels:
    """implicit ALS (BM25-weighted) and item-kNN (BM25) fitted on one interaction matrix."""

    als: object
    knn: object

    def als_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Dot product of the user and item factors for each (u, i) pair."""
        return np.einsum("ij,ij->i", self.als.user_factors[users], self.als.item_factors[items])

    def knn_scores(self, matrix: sp.csr_matrix, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """sum_j X[u, j] * similarity[j, i] for each (u, i) pair."""
        uniq, inverse = np.unique(users, return_inverse=True)
        scores = (matrix[uniq] @ self.knn.similarity).tocsr()
        return np.asarray(scores[inverse, items]).ravel()


def fit_als(matrix: sp.csr_matrix, config: RecommenderConfig) -> object:
    """implicit ALS on the BM25-weighted (n_users, n_items) CSR ``matrix``."""
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import bm25_weight

    als = AlternatingLeastSquares(factors=config.factors, iterations=config.als_iterations,
                                  regularization=config.als_regularization, random_state=config.seed,
                                  num_threads=2, calculate_training_loss=False)
    als.fit(bm25_weight(matrix, K1=100, B=0.8).tocsr(), show_progress=False)
    return als


def fit_base_models(matrix: sp.csr_matrix, config: RecommenderConfig) -> BaseModels:
    """Fit implicit ALS on BM25-weighted ``matrix`` and a BM25 item-kNN on it. (n_users, n_items) CSR in."""
    from implicit.nearest_neighbours import BM25Recommender

    knn = BM25Recommender(K=config.knn_neighbours, num_threads=2)
    _fit_quietly(knn, matrix)
    return BaseModels(fit_als(matrix, config), knn)


def _fit_quietly(knn: object, matrix: sp.csr_matrix) -> None:
    # BM25Recommender.fit hands its own BM25 (COO) matrix to its kNN routine, which warns about it
    from implicit.utils import ParameterWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParameterWarning)
        knn.fit(matrix, show_progress=False)


def fit_bare_baselines(matrix: sp.csr_matrix, seed: int = 7) -> BaseModels:
    """The off-the-shelf baselines with implicit's defaults: ALS with 64 factors on BM25-weighted
    counts, and BM25Recommender (K=20)."""
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import BM25Recommender, bm25_weight

    als = AlternatingLeastSquares(factors=64, random_state=seed, num_threads=2)
    als.fit(bm25_weight(matrix).tocsr(), show_progress=False)
    knn = BM25Recommender(num_threads=2)
    _fit_quietly(knn, matrix)
    return BaseModels(als, knn)


def implicit_top_k(model: object, matrix: sp.csr_matrix, users: np.ndarray, k: int, new_only: bool) -> np.ndarray:
    """Top k of a fitted ``implicit`` model for ``users``; (n_users, k) padded with -1."""
    ids, _ = model.recommend(users, matrix[users], N=k, filter_already_liked_items=new_only)
    ids = np.asarray(ids, dtype=np.int64)
    if ids.shape[1] < k:
        ids = np.pad(ids, ((0, 0), (0, k - ids.shape[1])), constant_values=-1)
    return ids


# ---------------------------------------------------------------- baselines


def popular_items(inter: Interactions, since: datetime | None = None) -> np.ndarray:
    """Item indices by number of distinct buyers (since ``since`` when given), most popular first."""
    history = inter.history if since is None else inter.history.filter(pl.col("last_at") >= since)
    counts = np.bincount(history["item_idx"].to_numpy(), minlength=inter.n_items)
    return np.argsort(-counts, kind="stable")


def _fill_from_ranking(inter: Interactions, users: np.ndarray, first: np.ndarray, ranking: np.ndarray, k: int,
                       new_only: bool) -> np.ndarray:
    """Each row of ``first`` (-1 padded), then the items of one global ``ranking`` it lacks, up to k.

    With ``new_only`` the ranking's items the user bought are skipped. (n_users, k) padded with -1.
    """
    first = first[:, :k]
    head = ranking[: k + 400]
    tail = np.broadcast_to(head, (len(users), len(head)))
    skip = (first[:, :, None] == head[None, None, :]).any(axis=1)  # already in the row
    if new_only:
        skip |= inter.purchases[users][:, head].toarray() > 0
    merged = np.concatenate([first, np.where(skip, -1, tail)], axis=1)
    order = np.argsort(merged < 0, axis=1, kind="stable")  # valid entries first, in their order
    return np.take_along_axis(merged, order, axis=1)[:, :k].astype(np.int64)


def popularity_top_k(inter: Interactions, users: np.ndarray, k: int, new_only: bool) -> np.ndarray:
    empty = np.full((len(users), 0), -1, dtype=np.int64)
    return _fill_from_ranking(inter, users, empty, popular_items(inter), k, new_only)


def repeat_buy_top_k(inter: Interactions, users: np.ndarray, k: int) -> np.ndarray:
    """The customer's own most-bought items (ties: most recent first), then the most popular ones."""
    wanted = pl.DataFrame({"user_idx": users.astype(np.int32), "row": np.arange(len(users))})
    own = (
        inter.history.join(wanted, on="user_idx")
        .sort(["row", "orders", "last_at"], descending=[False, True, True])
        .with_columns(pos=pl.int_range(pl.len()).over("row")).filter(pl.col("pos") < k)
    )
    first = np.full((len(users), k), -1, dtype=np.int64)
    first[own["row"].to_numpy(), own["pos"].to_numpy()] = own["item_idx"].to_numpy()
    return _fill_from_ranking(inter, users, first, popular_items(inter), k, new_only=False)


# ---------------------------------------------------------------- candidates and features

FEATURES = (
    # collaborative scores
    "als_score", "knn_score", "knn_recent", "als_rank", "knn_rank", "weight",
    # the customer and the item: counts, recency, re-purchase cycle, basket share
    "ui_orders", "ui_orders_30d", "ui_orders_90d", "ui_decayed_14d", "ui_decayed_56d", "ui_days", "ui_since_last",
    "ui_since_first", "ui_cycle", "ui_due", "ui_share", "ui_share_90d", "ui_rate",
    # the item: popularity, trend, how often it is bought again
    "i_buyers", "i_buyers_28d", "i_buyers_7d", "i_trend", "i_repeat_share", "i_cycle", "i_age",
    # the customer, and their affinity to the item's category
    "u_items", "u_purchases", "u_purchases_90d", "u_baskets", "u_baskets_90d", "u_since_last", "u_tenure", "cat_share",
)


def _days(expr: pl.Expr) -> pl.Expr:
    return expr.dt.total_seconds() / 86400.0


def _item_features(inter: Interactions) -> pl.DataFrame:
    c = inter.cutoff
    h = inter.history.with_columns(cycle=_days(pl.col("last_at") - pl.col("first_at")) / (pl.col("days") - 1))
    return h.group_by("item_idx").agg(
        i_buyers=pl.len(),
        i_buyers_28d=(pl.col("last_at") >= c - timedelta(days=28)).sum(),
        i_buyers_7d=(pl.col("last_at") >= c - timedelta(days=7)).sum(),
        i_repeat_share=(pl.col("days") >= 2).mean(),
        i_cycle=pl.col("cycle").filter(pl.col("days") >= 2).median(),
        i_age=_days(c - pl.col("first_at").min()),
    ).with_columns(
        i_trend=(pl.col("i_buyers_28d") + 1) / (pl.col("i_buyers") * 28.0 / pl.col("i_age").clip(28, None) + 1),
    )


def _user_features(inter: Interactions) -> pl.DataFrame:
    c = inter.cutoff
    return inter.history.group_by("user_idx").agg(
        u_items=pl.len(), u_purchases=pl.col("orders").sum(), u_purchases_90d=pl.col("orders_90d").sum(),
        u_since_last=_days(c - pl.col("last_at").max()), u_tenure=_days(c - pl.col("first_at").min()),
    ).join(inter.baskets.rename({"baskets": "u_baskets", "baskets_90d": "u_baskets_90d"}), on="user_idx")


def _decayed(inter: Interactions, config: RecommenderConfig) -> sp.csr_matrix:
    """Purchases weighted by exp(-days since the last one / half-life * ln 2): what the customer buys lately."""
    h = inter.history
    age = _days(inter.cutoff - h["last_at"]).to_numpy()
    value = h["orders"].to_numpy() * np.exp2(-age / config.recency_half_life_days)
    return sp.csr_matrix((value.astype(np.float32), (h["user_idx"].to_numpy(), h["item_idx"].to_numpy())),
                         shape=(inter.n_users, inter.n_items))


def candidates(inter: Interactions, base: BaseModels, users: np.ndarray, config: RecommenderConfig,
               new_only: bool, item_category: pl.DataFrame | None = None) -> pl.DataFrame:
    """Candidate (user_idx, item_idx) pairs with the re-ranker's features, one row per pair."""
    m = inter.matrix
    als = implicit_top_k(base.als, m, users, config.n_als, new_only)
    knn = implicit_top_k(base.knn, m, users, config.n_knn, new_only)
    recent = popular_items(inter, since=inter.cutoff - timedelta(days=28))[: config.n_popular]
    alltime = popular_items(inter)[: config.n_popular]

    def pairs(grid: np.ndarray) -> pl.DataFrame:
        rows = np.repeat(users, grid.shape[1])
        flat = grid.ravel()
        keep = flat >= 0
        return pl.DataFrame({"user_idx": rows[keep].astype(np.int32), "item_idx": flat[keep].astype(np.int32)})

    popular = np.unique(np.concatenate([recent, alltime]))
    parts = [pairs(als), pairs(knn), pairs(np.tile(popular, (len(users), 1)))]
    wanted = pl.DataFrame({"user_idx": users.astype(np.int32)})
    if not new_only:
        parts.append(inter.history.join(wanted, on="user_idx")
                     .sort(["user_idx", "orders", "last_at"], descending=[False, True, True])
                     .group_by("user_idx", maintain_order=True).head(config.n_owned).select("user_idx", "item_idx"))
    cand = pl.concat(parts).unique().sort("user_idx", "item_idx")
    hist = inter.history.select("user_idx", "item_idx", "orders", "days", "first_at", "last_at",
                                *[pl.col(c).alias(f"ui_{c}") for c in ("orders_30d", "orders_90d", "decayed_14d",
                                                                       "decayed_56d")])
    if new_only:
        cand = cand.join(hist, on=["user_idx", "item_idx"], how="anti")
    u, i = cand["user_idx"].to_numpy(), cand["item_idx"].to_numpy()
    weight = np.asarray(m[u, i]).ravel()
    cand = cand.with_columns(als_score=pl.Series(base.als_scores(u, i), dtype=pl.Float32),
                             knn_score=pl.Series(base.knn_scores(m, u, i), dtype=pl.Float32),
                             knn_recent=pl.Series(base.knn_scores(_decayed(inter, config), u, i), dtype=pl.Float32),
                             weight=pl.Series(weight, dtype=pl.Float32))
    c = inter.cutoff
    cand = (
        cand.join(hist, on=["user_idx", "item_idx"], how="left")
        .join(_user_features(inter), on="user_idx", how="left")
        .join(_item_features(inter), on="item_idx", how="left")
        .with_columns(
            pl.col("ui_orders_30d", "ui_orders_90d", "ui_decayed_14d", "ui_decayed_56d").fill_null(0),
            ui_orders=pl.col("orders").fill_null(0), ui_days=pl.col("days").fill_null(0),
            ui_since_last=_days(c - pl.col("last_at")), ui_since_first=_days(c - pl.col("first_at")),
            als_rank=pl.col("als_score").rank("ordinal", descending=True).over("user_idx"),
            knn_rank=pl.col("knn_score").rank("ordinal", descending=True).over("user_idx"),
        )
        .with_columns(ui_cycle=pl.when(pl.col("ui_days") >= 2)
                      .then((pl.col("ui_since_first") - pl.col("ui_since_last")) / (pl.col("ui_days") - 1)))
        .with_columns(ui_due=pl.col("ui_since_last") / pl.coalesce("ui_cycle", "i_cycle"),
                      # share of the customer's baskets holding the item, overall and lately; purchase rate per week
                      ui_share=pl.col("ui_orders") / pl.col("u_baskets"),
                      ui_share_90d=pl.col("ui_orders_90d") / pl.col("u_baskets_90d"),
                      ui_rate=pl.col("ui_orders") / pl.col("ui_since_first").clip(7, None) * 7)
    )
    if item_category is not None:
        cats = inter.item_frame().join(item_category.select("sku", "category"), on="sku", how="left").select(
            "item_idx", pl.col("category").fill_null("?"))
        share = (inter.history.join(cats, on="item_idx").group_by("user_idx", "category")
                 .agg(pl.col("orders").sum().alias("cat_orders")))
        cand = (cand.join(cats, on="item_idx", how="left").join(share, on=["user_idx", "category"], how="left")
                .with_columns(cat_share=pl.col("cat_orders").fill_null(0) / pl.col("u_purchases")))
    else:
        cand = cand.with_columns(cat_share=pl.lit(None, dtype=pl.Float64))
    return cand.select("user_idx", "item_idx", *[pl.col(f).cast(pl.Float32) for f in FEATURES])


# ---------------------------------------------------------------- the re-ranker


@dataclass
class Reranker:
    """A LightGBM LambdaRank model over candidate features (see ``FEATURES``)."""

    booster: object
    new_only: bool
    config: RecommenderConfig
    training: dict

    def top_k(self, cand: pl.DataFrame, users: np.ndarray, k: int,
              with_scores: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """(len(users), k) best items by predicted score; rows follow ``users``, padded with -1
        (and the scores, NaN where padded, when ``with_scores``)."""
        score = self.booster.predict(cand.select(FEATURES).to_numpy(), num_threads=2)
        ranked = (
            cand.select("user_idx", "item_idx").with_columns(score=pl.Series(score))
            .sort(["user_idx", "score"], descending=[False, True])
            .group_by("user_idx", maintain_order=True).head(k)
            .with_columns(pos=pl.int_range(pl.len()).over("user_idx"))
        )
        row_of = pl.DataFrame({"user_idx": users.astype(np.int32), "row": np.arange(len(users))})
        ranked = ranked.join(row_of, on="user_idx")
        rows, pos = ranked["row"].to_numpy(), ranked["pos"].to_numpy()
        out = np.full((len(users), k), -1, dtype=np.int64)
        out[rows, pos] = ranked["item_idx"].to_numpy()
        if not with_scores:
            return out
        scores = np.full((len(users), k), np.nan)
        scores[rows, pos] = ranked["score"].to_numpy()
        return out, scores


def training_frames(purchases: pl.DataFrame, cutoff: datetime, window: timedelta, variants: tuple[str, ...],
                    config: RecommenderConfig, events: pl.DataFrame | None = None,
                    item_category: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """Labelled candidates per variant: features before ``cutoff - window``, label = bought in
    ``[cutoff - window, cutoff)``. The base models are fitted once and shared by the variants.

    Only users with a positive among their candidates are kept (LambdaRank learns nothing from the
    others); at most ``config.max_training_users`` of them, drawn with the seed.
    """
    inter = build_interactions(purchases, cutoff - window, events, config.weights)
    base = fit_base_models(inter.matrix, config)
    rng = np.random.default_rng(config.seed)
    out = {}
    for variant in variants:
        new_only = variant == "new"
        labels = relevant_after(purchases, inter, cutoff, new_only)
        users = np.flatnonzero(np.diff(labels.indptr) > 0)
        if len(users) == 0:
            raise NotEnoughData(f"no known customer bought anything ({variant}) in [{cutoff - window}, {cutoff})",
                                "a longer purchase history of returning customers")
        if config.max_training_users and len(users) > config.max_training_users:
            users = np.sort(rng.choice(users, config.max_training_users, replace=False))
        out[variant] = labelled(candidates(inter, base, users, config, new_only, item_category), labels)
    return out


def labelled(cand: pl.DataFrame, relevant: sp.csr_matrix) -> pl.DataFrame:
    """Candidates with ``label`` = 1 where ``relevant`` (an (n_users, n_items) CSR) marks the pair, keeping
    only users with a positive among their candidates (LambdaRank learns nothing from the others)."""
    y = np.asarray(relevant[cand["user_idx"].to_numpy(), cand["item_idx"].to_numpy()]).ravel() > 0
    return cand.with_columns(label=pl.Series(y.astype(np.int8))).filter(pl.col("label").max().over("user_idx") > 0)


def stacked_training_frames(purchases: pl.DataFrame, cutoff: datetime, window: timedelta,
                            variants: tuple[str, ...], config: RecommenderConfig, events: pl.DataFrame | None = None,
                            item_category: pl.DataFrame | None = None) -> dict[str, list[pl.DataFrame]]:
    """Per variant, the labelled candidates of ``config.training_windows`` windows of length ``window``
    before ``cutoff`` (the latest first; earlier ones are skipped when the history is too short).
    ``user_idx`` is Int64 and offset by 10,000,000 per window, so each user and window is its own query."""
    frames: dict[str, list[pl.DataFrame]] = {v: [] for v in variants}
    for w in range(config.training_windows):
        try:
            found = training_frames(purchases, cutoff - w * window, window, variants, config, events, item_category)
        except ValueError:
            if w == 0:
                raise
            break
        for variant, frame in found.items():
            frames[variant].append(frame.with_columns(user_idx=pl.col("user_idx").cast(pl.Int64) + w * 10_000_000))
    return frames


def fit_rerankers(purchases: pl.DataFrame, cutoff: datetime, window: timedelta,
                  variants: tuple[str, ...] = ("new", "repeat"), config: RecommenderConfig | None = None,
                  events: pl.DataFrame | None = None, item_category: pl.DataFrame | None = None) -> dict[str, Reranker]:
    """One re-ranker per variant, learnt from the windows before ``cutoff`` (``stacked_training_frames``)."""
    config = config or RecommenderConfig()
    frames = stacked_training_frames(purchases, cutoff, window, variants, config, events, item_category)
    rerankers = {}
    for variant, parts in frames.items():
        cand = pl.concat(parts)
        training = {"windows": len(parts), "first_feature_cutoff": str(cutoff - len(parts) * window),
                    "label_window_end": str(cutoff), "queries": int(cand["user_idx"].n_unique()),
                    "rows": int(len(cand)), "positives": int(cand["label"].sum())}
        rerankers[variant] = Reranker(fit_ranker(cand, config), variant == "new", config, training)
    return rerankers


def fit_ranker(cand: pl.DataFrame, config: RecommenderConfig) -> object:
    """The LambdaRank booster on labelled candidates (``FEATURES`` + ``label``, one query per
    ``user_idx``, rows of a query together)."""
    import lightgbm as lgb

    groups = cand.group_by("user_idx", maintain_order=True).len()["len"].to_numpy()
    ranker = lgb.LGBMRanker(objective="lambdarank", n_estimators=config.trees, learning_rate=config.learning_rate,
                            num_leaves=config.leaves, min_child_samples=config.min_child_samples, subsample=0.8,
                            subsample_freq=1, colsample_bytree=0.8, lambdarank_truncation_level=20,
                            random_state=config.seed, n_jobs=2, verbose=-1)
    ranker.fit(cand.select(FEATURES).to_numpy(), cand["label"].to_numpy(), group=groups)
    return ranker.booster_
