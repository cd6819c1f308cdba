"""Time-split backtest of the recommenders against their baselines, on the same split.

Train on purchases before ``cutoff``, test on what each known customer bought in
``[cutoff, end)``; two variants: ``new`` (items the customer had not bought before; owned items are
never recommended) and ``repeat`` (every item bought counts; re-buying allowed). Baselines:
popularity, repeat-buy (the customer's own most-bought items, only in ``repeat``), bare implicit
ALS (64 factors, BM25-weighted counts) and bare implicit item-kNN (BM25Recommender).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl

from models.interactions import Interactions, build_interactions, relevant_after
from models.ranking_metrics import ranking_metrics
from models.recommend import (
    BaseModels,
    RecommenderConfig,
    candidates,
    fit_bare_baselines,
    fit_base_models,
    fit_rerankers,
    implicit_top_k,
    popularity_top_k,
    repeat_buy_top_k,
)

MODEL_NAME = "smartmall_reranker"
VARIANTS = ("new", "repeat")
BASELINES = ("popularity", "repeat_buy", "implicit_als", "implicit_item_knn")  # repeat_buy only with repeats


@dataclass
class RecommenderBacktest:
    cutoff: datetime
    end: datetime
    k: int
    metrics: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # variant -> model -> metric
    seconds: dict[str, float] = field(default_factory=dict)
    rerankers: dict = field(default_factory=dict)  # variant -> the Reranker that was scored

    def best_baseline(self, variant: str, metric: str = "ndcg") -> tuple[str, float]:
        scores = {m: v[metric] for m, v in self.metrics[variant].items() if m != MODEL_NAME}
        name = max(scores, key=scores.get)
        return name, scores[name]

    def ratio(self, variant: str, metric: str = "ndcg") -> float:
        return self.metrics[variant][MODEL_NAME][metric] / self.best_baseline(variant, metric)[1]

    def card(self) -> dict:
        return {
            "cutoff": str(self.cutoff), "test_end": str(self.end), "k": self.k, "metrics": self.metrics,
            "best_baseline": {v: self.best_baseline(v)[0] for v in self.metrics},
            "ndcg_ratio_to_best_baseline": {v: round(self.ratio(v), 4) for v in self.metrics},
            "seconds": self.seconds,
            "reranker_training": {v: r.training for v, r in self.rerankers.items()},
        }


def baseline_top_k(name: str, inter: Interactions, bare: BaseModels, users: np.ndarray, k: int,
                   new_only: bool) -> np.ndarray:
    """The top ``k`` of one of ``BASELINES`` for ``users``; ``bare`` from ``fit_bare_baselines``."""
    if name == "repeat_buy":
        return repeat_buy_top_k(inter, users, k)
    if name == "popularity":
        return popularity_top_k(inter, users, k, new_only)
    model = {"implicit_als": bare.als, "implicit_item_knn": bare.knn}[name]
    return implicit_top_k(model, inter.purchases, users, k, new_only)


def backtest(purchases: pl.DataFrame, cutoff: datetime, end: datetime, config: RecommenderConfig | None = None,
             k: int = 10, events: pl.DataFrame | None = None, item_category: pl.DataFrame | None = None,
             variants: tuple[str, ...] = VARIANTS) -> RecommenderBacktest:
    """Score smartmall's re-ranker and every baseline on the same time split; metrics at ``k``."""
    config = config or RecommenderConfig()
    result = RecommenderBacktest(cutoff, end, k)
    window = end - cutoff
    t0 = time.perf_counter()
    inter = build_interactions(purchases, cutoff, events, config.weights)
    bare = fit_bare_baselines(inter.purchases, config.seed)  # plain purchase counts, browsing left out
    base = fit_base_models(inter.matrix, config)
    result.seconds["base_models"] = round(time.perf_counter() - t0, 2)
    t1 = time.perf_counter()
    rerankers = result.rerankers = fit_rerankers(purchases, cutoff, window, variants, config, events, item_category)
    result.seconds["rerankers"] = round(time.perf_counter() - t1, 2)
    for variant in variants:
        new_only = variant == "new"
        relevant = relevant_after(purchases, inter, end, new_only)
        users = np.flatnonzero(np.diff(relevant.indptr) > 0)
        rel = relevant[users]
        lists = {name: baseline_top_k(name, inter, bare, users, k, new_only)
                 for name in BASELINES if name != "repeat_buy" or not new_only}
        cand = candidates(inter, base, users, config, new_only, item_category)
        lists[MODEL_NAME] = rerankers[variant].top_k(cand, users, k)
        result.metrics[variant] = {name: {m: round(v, 5) for m, v in ranking_metrics(top, rel, k).items()}
                                   for name, top in lists.items()}
    return result
