"""Top-k ranking metrics for recommendations, computed for many users at once.

Shapes: ``recommended`` is an ``(n_users, k)`` integer array of item indices, best first, padded
with -1 where fewer than k items were recommended; ``relevant`` is an ``(n_users, n_items)``
scipy CSR matrix whose non-zeros mark the items the user actually bought in the test window.

Definitions (binary relevance, per user, then averaged over users with at least one relevant item):

- precision@k = hits in the top k / k
- recall@k    = hits in the top k / number of relevant items
- hit rate@k  = 1 if at least one hit in the top k else 0
- NDCG@k      = DCG / IDCG, DCG = sum over hit positions p (1-based) of 1 / log2(p + 1),
                IDCG = the DCG of a perfect list: sum_{p=1..min(k, |relevant|)} 1 / log2(p + 1)
- MAP@k       = (sum over hit positions p of precision@p) / min(k, |relevant|)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

METRICS = ("precision", "recall", "ndcg", "map", "hit_rate")


def hit_matrix(recommended: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """``(n_users, k)`` booleans: is the item at each position relevant for that user."""
    rows = np.repeat(np.arange(recommended.shape[0]), recommended.shape[1]).reshape(recommended.shape)
    valid = recommended >= 0
    hits = np.zeros(recommended.shape, dtype=bool)
    hits[valid] = np.asarray(relevant[rows[valid], recommended[valid]]).ravel() > 0
    return hits


def ranking_metrics(recommended: np.ndarray, relevant: sp.csr_matrix, k: int = 10) -> dict[str, float]:
    """Mean precision, recall, NDCG, MAP and hit rate at ``k`` over users with a relevant item."""
    recommended = np.asarray(recommended)[:, :k]
    n_relevant = np.diff(relevant.indptr)
    keep = n_relevant > 0
    recommended, n_relevant = recommended[keep], n_relevant[keep]
    relevant = relevant[keep]
    if recommended.shape[0] == 0:
        return {**{m: float("nan") for m in METRICS}, "users": 0}
    hits = hit_matrix(recommended, relevant)
    if hits.shape[1] < k:  # fewer than k columns: the missing positions are misses
        hits = np.pad(hits, ((0, 0), (0, k - hits.shape[1])))
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discount).sum(axis=1)
    ideal_len = np.minimum(n_relevant, k)
    idcg = np.cumsum(discount)[ideal_len - 1]
    n_hits = hits.sum(axis=1)
    precision_at_p = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    average_precision = (precision_at_p * hits).sum(axis=1) / ideal_len
    return {
        "precision": float((n_hits / k).mean()),
        "recall": float((n_hits / n_relevant).mean()),
        "ndcg": float((dcg / idcg).mean()),
        "map": float(average_precision.mean()),
        "hit_rate": float((n_hits > 0).mean()),
        "users": int(recommended.shape[0]),
    }
