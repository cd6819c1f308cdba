"""Customer lifetime value: BG/NBD for purchase counts and P(alive), Gamma-Gamma for spend.

Maximum likelihood on numpy/scipy (Fader, Hardie & Lee 2005, "Counting your customers the easy
way"; and 2005, "RFM and CLV: using iso-value curves"). Inputs per customer, in one time unit
(days here; the CDNOW anchor uses weeks):

- ``frequency`` x: repeat purchases (purchases after the first), >= 0
- ``recency`` t_x: time from the first to the last purchase (0 when x = 0)
- ``T``: time from the first purchase to the end of the observation window
- ``monetary`` zbar: mean value of the repeat purchases (Gamma-Gamma uses x >= 1 only)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, special

from models.errors import NotEnoughData


@dataclass(frozen=True)
class BetaGeoParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    v: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _check_rft(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    if not (x.shape == t_x.shape == t.shape) or x.ndim != 1 or len(x) == 0:
        raise ValueError("frequency, recency and T must be 1-d arrays of the same non-zero length")
    if np.any(~np.isfinite(x) | ~np.isfinite(t_x) | ~np.isfinite(t)):
        raise ValueError("frequency, recency and T must be finite")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > t + 1e-9):
        raise ValueError("need frequency >= 0 and 0 <= recency <= T")
    return x, t_x, t


def bgnbd_log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of BG/NBD (r, alpha, a, b)."""
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + t)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def fit_bgnbd(frequency, recency, T, penalizer: float = 0.0) -> BetaGeoParams:
    """Maximum-likelihood BG/NBD parameters (optimised on the log scale)."""
    x, t_x, t = _check_rft(frequency, recency, T)
    scale = max(float(t.max()), 1e-9) / 10.0  # fit on a rescaled clock: alpha scales with time, the rest do not
    # customers with the same (x, t_x, T) share one likelihood term: fit on the distinct rows, weighted
    rows, counts = np.unique(np.column_stack([x, t_x, t]), axis=0, return_counts=True)
    x, t_x, t = rows[:, 0], rows[:, 1], rows[:, 2]
    weights = counts / counts.sum()

    def nll(log_params: np.ndarray) -> float:
        p = np.exp(log_params)
        return -(weights * bgnbd_log_likelihood(p, x, t_x / scale, t / scale)).sum() + penalizer * np.sum(p**2)

    best = None
    for start in ([0.0, 0.0, 0.0, 0.0], [np.log(0.25), np.log(0.5), np.log(0.8), np.log(2.5)]):
        res = optimize.minimize(nll, np.array(start), method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-9})
        # a short simplex polish from the gradient solution (the likelihood is flat along a and b)
        res = optimize.minimize(nll, res.x, method="Nelder-Mead",
                                options={"maxiter": 1500, "xatol": 1e-7, "fatol": 1e-11})
        if best is None or res.fun < best.fun:
            best = res
    r, alpha, a, b = np.exp(best.x)
    return BetaGeoParams(r=float(r), alpha=float(alpha * scale), a=float(a), b=float(b))


def probability_alive(params: BetaGeoParams, frequency, recency, T) -> np.ndarray:
    x, t_x, t = _check_rft(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_ratio = np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + (r + x) * (np.log(alpha + t) - np.log(alpha + t_x))
    return np.where(x > 0, 1.0 / (1.0 + np.exp(np.minimum(log_ratio, 700))), 1.0)


def expected_purchases(params: BetaGeoParams, horizon: float, frequency, recency, T) -> np.ndarray:
    """E[purchases in (T, T + horizon]] for each customer (conditional expectation)."""
    x, t_x, t = _check_rft(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = horizon / (alpha + t + horizon)
    with np.errstate(all="ignore"):
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        first = (a + b + x - 1) / (a - 1) * (1 - ((alpha + t) / (alpha + t + horizon)) ** (r + x) * hyp)
    # A fit may drive a and b to huge values (dropout all but impossible): then 2F1 overflows, and
    # the model is the NBD without dropout, whose expectation is the posterior rate times the horizon.
    no_dropout = horizon * (r + x) / (alpha + t)
    first = np.where(np.isfinite(first), first, no_dropout)
    return first * probability_alive(params, x, t_x, t)


def probability_no_purchase(params: BetaGeoParams, horizon: float, frequency, recency, T) -> np.ndarray:
    """P(no purchase in (T, T + horizon]): dropped out, or alive and silent for the horizon.

    This, not 1 - P(alive), is the churn score of BG/NBD: a one-time buyer has P(alive) = 1
    but is very likely to stay silent.
    """
    x, t_x, t = _check_rft(frequency, recency, T)
    alive = probability_alive(params, x, t_x, t)
    silent = ((params.alpha + t) / (params.alpha + t + horizon)) ** (params.r + x)
    return (1 - alive) + alive * silent


def gamma_gamma_log_likelihood(params: np.ndarray, x: np.ndarray, zbar: np.ndarray) -> np.ndarray:
    p, q, v = params
    return (special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q) + q * np.log(v)
            + (p * x - 1) * np.log(zbar) + p * x * np.log(x) - (p * x + q) * np.log(x * zbar + v))


def fit_gamma_gamma(frequency, monetary) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters on repeat buyers (frequency >= 1, spend > 0)."""
    x = np.asarray(frequency, dtype=float)
    zbar = np.asarray(monetary, dtype=float)
    keep = (x >= 1) & (zbar > 0) & np.isfinite(zbar)
    if keep.sum() < 3:
        raise NotEnoughData("Gamma-Gamma needs at least 3 repeat buyers with positive spend",
                            "more customers who buy more than once")
    x, zbar = x[keep], zbar[keep]
    scale = float(np.median(zbar))  # v scales with money

    def nll(log_params: np.ndarray) -> float:
        return -gamma_gamma_log_likelihood(np.exp(log_params), x, zbar / scale).mean()

    res = optimize.minimize(nll, np.zeros(3), method="L-BFGS-B", options={"maxiter": 2000})
    res = optimize.minimize(nll, res.x, method="Nelder-Mead", options={"maxiter": 1500, "xatol": 1e-7,
                                                                       "fatol": 1e-11})
    p, q, v = np.exp(res.x)
    return GammaGammaParams(p=float(p), q=float(q), v=float(v * scale))


def expected_spend(params: GammaGammaParams, frequency, monetary) -> np.ndarray:
    """E[value of one purchase]: shrinks each buyer's mean towards the population mean; the
    population mean for customers with no repeat purchase."""
    x = np.asarray(frequency, dtype=float)
    zbar = np.nan_to_num(np.asarray(monetary, dtype=float), nan=0.0)
    p, q, v = params.p, params.q, params.v
    population = p * v / (q - 1) if q > 1 else np.nan
    individual = p * (v + x * zbar) / (p * x + q - 1)
    return np.where((x >= 1) & (zbar > 0), individual, population)
