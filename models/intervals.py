"""Prediction intervals calibrated on the backtest (split conformal over forecast origins).

Each model's backtest errors are scaled by the series' in-sample naive error (the MASE scale), so
one set of offsets serves series of any size. The offsets of a level (0.8 = the 10 %..90 %
interval) are the empirical quantiles of those scaled errors per horizon step; an interval is
``point + offset * scale``, floored at zero. Steps beyond the backtest's horizon reuse the last
step's offsets widened by sqrt(step / last step), the growth of a random walk's spread.

Coverage is measured out of time: offsets calibrated on the older origins are scored on the newest
one, the way they will be used. With a single origin the coverage is in-sample, and says so.
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
    """Empirical coverage per level: calibrate on the older origins (``errors_by_origin[1:]``), score
    on the newest (``[0]``); in-sample when there is one origin. Errors are scaled, so an interval
    holds the actual when ``lower <= error <= upper`` (the floor at 0 only ever adds coverage)."""
    newest, older = errors_by_origin[0], errors_by_origin[1:]
    offsets = calibrate(older or [newest], levels)
    out: dict = {"out_of_time": bool(older)}
    for level in levels:
        lo, hi = offsets.by_level[level]
        inside = (newest >= lo) & (newest <= hi)
        out[f"coverage_{int(level * 100)}"] = round(float(inside.mean()), 4)
    return out
