"""Prediction intervals calibrated on the backtest (split conformal over forecast origins).

Each model's backtest errors are scaled by the series' in-sample naive error (the MASE scale), so
one set of offsets serves series of any size. The offsets of a level (0.8 = the 10 %..90 %
interval) are the empirical quantiles of those scaled errors per horizon step; an interval is
``point + offset * scale``, floored at zero. Steps beyond the backtest's horizon reuse the last
step's offsets widened by sqrt(step / last step), the growth of a random walk's spread.

Coverage is measured out of time, the way the offsets are used: each origin but the oldest is
scored with offsets calibrated on the origins older than it, and the scores are pooled. With a
single origin the coverage is in-sample, and says so.

Two figures per level. ``coverage_80`` is the share of actuals inside the interval as served.
``coverage_80_randomized`` is the same with ties broken at random (the randomized PIT of Czado,
Gneiting & Held 2009, the standard calibration check for counts): weekly sales of a slow item are
zero in most weeks and the forecast is often zero too, so one error value can hold 90 % of the
outcomes. No interval that contains the forecast covers fewer than those, whatever its level; the
randomized figure splits such a tie in proportion to the part of it the level asks for, and is
nominal in expectation when the errors do not shift. ``at_forecast_share`` is the share of actuals
exactly at the point forecast, the floor under the first figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEVELS = (0.8, 0.95)


@dataclass(frozen=True)
class Offsets:
    """Scaled error quantiles per level: ``{level: (lower, upper)}``, each of shape (steps,)."""

    by_level: dict[float, tuple[np.ndarray, np.ndarray]]

    def interval(self, point: np.ndarray, scale: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) of shape ``point`` (series, h) for ``scale`` (series,), floored at 0."""
        lo, hi = self.by_level[level]
        h, known = point.shape[1], len(lo)
        steps = np.arange(1, h + 1)
        widen = np.sqrt(np.maximum(steps, known) / known)  # 1 within the backtest's horizon
        lo = np.concatenate([lo, np.repeat(lo[-1], max(0, h - known))])[:h] * widen
        hi = np.concatenate([hi, np.repeat(hi[-1], max(0, h - known))])[:h] * widen
        s = scale[:, None]
        return np.maximum(point + lo * s, 0.0), np.maximum(point + hi * s, point)


def scaled_errors(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(actual - forecast) / scale per series and step; shapes (series, h), (series, h), (series,)."""
    return (actual - forecast) / scale[:, None]


def calibrate(errors: list[np.ndarray], levels: tuple[float, ...] = LEVELS) -> Offsets:
    """Offsets from the scaled errors of one or more origins (each (series, h), pooled over series)."""
    pooled = np.concatenate(errors, axis=0)
    out = {}
    for level in levels:
        tail = (1 - level) / 2
        out[level] = (np.quantile(pooled, tail, axis=0), np.quantile(pooled, 1 - tail, axis=0))
    return Offsets(out)


def coverage(errors_by_origin: list[np.ndarray], levels: tuple[float, ...] = LEVELS) -> dict:
    """Empirical coverage per level (see the module's docstring), from scaled errors per origin, newest
    first, each (series, h). Keys: ``out_of_time``, ``origins_scored``, ``at_forecast_share`` and per
    level ``coverage_<pct>`` and ``coverage_<pct>_randomized`` (shares in [0, 1])."""
    pairs = [(errors_by_origin[k], errors_by_origin[k + 1:]) for k in range(len(errors_by_origin) - 1)]
    if not pairs:
        pairs = [(errors_by_origin[0], errors_by_origin[:1])]
    tested = np.concatenate([test for test, _ in pairs], axis=0)
    out: dict = {"out_of_time": len(errors_by_origin) > 1, "origins_scored": len(pairs),
                 "at_forecast_share": round(float((tested == 0).mean()), 4)}
    for level in levels:
        inside = randomized = 0.0
        for test, older in pairs:
            lo, hi = calibrate(older, (level,)).by_level[level]
            inside += float(((test >= lo) & (test <= hi)).sum())
            randomized += float(_randomized_inside(np.concatenate(older, axis=0), test, level).sum())
        pct = int(round(level * 100))
        out[f"coverage_{pct}"] = round(inside / tested.size, 4)
        out[f"coverage_{pct}_randomized"] = round(randomized / tested.size, 4)
    return out


def _randomized_inside(calibration: np.ndarray, test: np.ndarray, level: float) -> np.ndarray:
    """Per test error, the probability that it falls inside the central ``level`` interval of the
    calibration errors of its step when ties are broken uniformly: the share of its randomized PIT
    range [F(e-), F(e)] inside [tail, 1 - tail]. Shapes (n_cal, h), (n_test, h) -> (n_test, h)."""
    tail = (1 - level) / 2
    out = np.empty(test.shape, dtype=float)
    for step in range(test.shape[1]):
        ranked = np.sort(calibration[:, step])
        below = np.searchsorted(ranked, test[:, step], side="left") / len(ranked)
        upto = np.searchsorted(ranked, test[:, step], side="right") / len(ranked)
        width = upto - below
        overlap = np.clip(np.minimum(upto, 1 - tail) - np.maximum(below, tail), 0.0, None)
        point = ((below >= tail) & (below <= 1 - tail)).astype(float)
        out[:, step] = np.where(width > 0, overlap / np.where(width > 0, width, 1.0), point)
    return out
