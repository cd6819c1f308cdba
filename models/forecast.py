"""Demand forecasting: a panel of series (SKU x location x period), baselines, a global LightGBM
model, accuracy metrics and a holdout backtest. Plain functions on numpy / polars; nothing here
knows about Dagster or the warehouse.

Shapes: a panel holds ``y`` of shape (n_series, n_periods) in units sold per period (weeks or days),
zero where nothing sold, and optionally ``promo`` of the same shape (1 where the item was on
promotion, known in advance from the promotion plan) and ``price``, the price paid relative to the
regular price (1.0 at the regular price, 0.8 at 20 % off; planned in advance like a promotion).
A forecast is (n_series, horizon).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from models.errors import NotEnoughData
from models.intervals import scaled_errors


@dataclass(frozen=True)
class Panel:
    """Series as rows, periods as columns. ``keys`` has one row per series (e.g. sku, location_id)."""

    keys: pl.DataFrame
    periods: list
    y: np.ndarray
    promo: np.ndarray | None = None
    price: np.ndarray | None = None

    def __post_init__(self):
        if self.y.ndim != 2 or self.y.shape != (len(self.keys), len(self.periods)):
            raise ValueError(f"y must be (series, periods) = ({len(self.keys)}, {len(self.periods)}), got {self.y.shape}")
        if not np.isfinite(self.y).all():
            raise ValueError("y has NaN or infinite values")
        if self.promo is not None and self.promo.shape != self.y.shape:
            raise ValueError("promo must have the shape of y")
        if self.price is not None and (self.price.shape != self.y.shape or not (np.isfinite(self.price).all()
                                                                              and (self.price > 0).all())):
            raise ValueError("price must have the shape of y, finite and > 0")

    def cut(self, rows: np.ndarray | slice = slice(None), end: int | None = None) -> Panel:
        """The panel restricted to some series and to the periods before ``end``."""
        def part(a):
            return None if a is None else a[rows, :end]
        return Panel(self.keys[rows], self.periods[:end], self.y[rows, :end], part(self.promo), part(self.price))


def panel_from_long(frame: pl.DataFrame, keys: list[str], period: str, value: str, periods: list,
                    promo: str | None = None, price: str | None = None) -> Panel:
    """Pivot long rows (keys..., period, value[, promo][, price]) into a zero-filled panel over ``periods``.

    Periods missing for a series (gaps, no sales) become 0; rows outside ``periods`` are ignored.
    Negative values (returns exceeding sales in a period) are clipped to 0: demand is not negative.
    A relative price missing for a period (nothing sold) is the series' last one (1.0, the regular
    price, before its first sale): a price that exists only where something sold would tell the
    model which weeks sold. Clipped to [0.05, 2] so that a data error cannot make an absurd feature."""
    if not periods:
        raise ValueError("no periods to build a panel over")
    series = frame.select(keys).unique().sort(keys).with_row_index("_sid")
    grid = series.join(pl.DataFrame({period: periods}), how="cross")
    agg = ([pl.col(value).sum().alias("_v")] + ([pl.col(promo).max().alias("_p")] if promo else [])
           + ([pl.col(price).mean().alias("_r")] if price else []))
    long = grid.join(frame.group_by(*keys, period).agg(agg), on=[*keys, period], how="left").sort("_sid", period)
    n, t = len(series), len(periods)
    y = long["_v"].fill_null(0).cast(pl.Float64).clip(0, None).to_numpy().reshape(n, t)
    p = long["_p"].fill_null(0).cast(pl.Float64).to_numpy().reshape(n, t) if promo else None
    r = (long.select(pl.col("_r").cast(pl.Float64).fill_nan(None).forward_fill().over("_sid"))["_r"]
         .fill_null(1.0).clip(0.05, 2.0).to_numpy().reshape(n, t) if price else None)
    return Panel(series.drop("_sid"), list(periods), y, p, r)


# ----------------------------------------------------------------------------------------------- metrics
def mase_scale(insample: np.ndarray, m: int = 1, power: int = 1) -> np.ndarray:
    """Per-series in-sample error of the (seasonal) naive forecast; 1 where the history is flat or short."""
    if insample.shape[1] <= m:
        return np.ones(insample.shape[0])
    diffs = np.abs(insample[:, m:] - insample[:, :-m]) ** power
    s = diffs.mean(axis=1)
    return np.where(s > 0, s, 1.0)


def mase(actual: np.ndarray, forecast: np.ndarray, insample: np.ndarray, m: int = 1) -> float:
    """Mean absolute scaled error, averaged over series: MAE of each series divided by the MAE of the
    one-step (seasonal, lag ``m``) naive forecast in its own history."""
    return float(np.mean(np.abs(actual - forecast).mean(axis=1) / mase_scale(insample, m)))


def rmsse(actual: np.ndarray, forecast: np.ndarray, insample: np.ndarray, m: int = 1) -> float:
    """Root mean squared scaled error (the M5 measure), averaged over series."""
    return float(np.mean(np.sqrt(((actual - forecast) ** 2).mean(axis=1) / mase_scale(insample, m, power=2))))


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |error| / sum actual over every series and period."""
    total = np.abs(actual).sum()
    return float(np.abs(actual - forecast).sum() / total) if total else float("nan")


def bias(actual: np.ndarray, forecast: np.ndarray) -> float:
    """(sum forecast - sum actual) / sum actual: > 0 over-forecasts, < 0 under-forecasts."""
    total = actual.sum()
    return float((forecast.sum() - total) / total) if total else float("nan")


def scores(actual: np.ndarray, forecast: np.ndarray, insample: np.ndarray) -> dict[str, float]:
    return {"mase": round(mase(actual, forecast, insample), 4), "rmsse": round(rmsse(actual, forecast, insample), 4),
            "wape": round(wape(actual, forecast), 4), "bias": round(bias(actual, forecast), 4)}


# ------------------------------------------------------------------------------------- local baselines
def naive(history: np.ndarray, h: int) -> np.ndarray:
    """The last value, repeated."""
    return np.repeat(history[:, -1:], h, axis=1)


def seasonal_naive(history: np.ndarray, h: int, m: int) -> np.ndarray:
    """The value one season (``m`` periods) earlier; plain naive when the history is shorter."""
    if history.shape[1] < m:
        return naive(history, h)
    season = history[:, -m:]
    return np.tile(season, (1, h // m + 1))[:, :h]


def moving_average(history: np.ndarray, h: int, k: int = 4) -> np.ndarray:
    """The mean of the last ``k`` periods, repeated."""
    return np.repeat(history[:, -k:].mean(axis=1, keepdims=True), h, axis=1)


def tsb(history: np.ndarray, h: int, alpha: float = 0.1, beta: float = 0.1) -> np.ndarray:
    """Teunter-Syntetos-Babai for intermittent demand: smoothed demand probability x smoothed size of
    non-zero demand (unlike Croston, the probability decays through runs of zeros)."""
    n, t = history.shape
    nonzero = history > 0
    first = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), t)
    prob = np.where(first < t, 1.0, 0.0)
    size = np.where(first < t, history[np.arange(n), np.minimum(first, t - 1)], 0.0)
    for j in range(t):  # vectorised over series; each series starts at its first sale
        live = j > first
        sold = nonzero[:, j]
        prob = np.where(live, prob + beta * (sold - prob), prob)
        size = np.where(live & sold, size + alpha * (history[:, j] - size), size)
    return np.repeat((prob * size)[:, None], h, axis=1)


def ets_damped(history: np.ndarray, h: int) -> np.ndarray:
    """statsmodels exponential smoothing with a damped additive trend, per series; series too short or
    too sparse for it (fewer than 10 periods, or more than half zeros) get TSB instead."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    out = tsb(history, h)
    for i, series in enumerate(history):
        if len(series) < 10 or (series == 0).mean() > 0.5:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = ExponentialSmoothing(series, trend="add", damped_trend=True).fit(use_brute=False)
                forecast = fit.forecast(h)
            except (ValueError, np.linalg.LinAlgError):
                continue
        if np.isfinite(forecast).all():
            out[i] = forecast
    return np.clip(out, 0, None)


def demand_class(history: np.ndarray) -> np.ndarray:
    """Syntetos-Boylan classes per series: smooth, erratic, intermittent, lumpy (or no_sales), from the
    average inter-demand interval (ADI, cut 1.32) and the squared CV of non-zero sizes (cut 0.49)."""
    sold = history > 0
    n_sold = sold.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(sold, history, 0).sum(axis=1) / n_sold
        cv2 = np.where(sold, (history - mean[:, None]) ** 2, 0).sum(axis=1) / n_sold / mean**2
        adi = history.shape[1] / n_sold
    low_cv = np.where(n_sold > 1, cv2, 0.0) < 0.49
    classes = np.where(adi >= 1.32, np.where(low_cv, "intermittent", "lumpy"), np.where(low_cv, "smooth", "erratic"))
    return np.where(n_sold == 0, "no_sales", classes)


# ------------------------------------------------------------------------------------------ global models
@dataclass
class GlobalLightGBM:
    """One LightGBM model across all series, direct multi-horizon (the horizon is a feature).

    ``plain=True`` is the textbook baseline: raw lags and promotion flags, squared error. Otherwise
    each row is normalised by the series' recent level (so one model serves slow and fast movers),
    with rolling statistics, the share of zero periods, the promotion flag of the target period and
    the lift the series showed on past promotions, the relative price (of the target period when
    ``price_plan``, i.e. the prices ahead are a plan the retailer set, else the last one paid) and
    its mean over the last 8 periods, the period of the year, fitted with absolute error (a median
    forecast, what MASE rewards), plus quantile models for prediction intervals. Without prices
    every relative price is 1.0 (the regular price). Prices paid in a period are an outcome of that
    period (who came, with which card), so without a plan they are never read past the origin."""

    plain: bool = False
    price_plan: bool = False
    season: int = 52
    quantiles: tuple[float, ...] = (0.1, 0.9)
    seed: int = 7
    params: dict = field(default_factory=lambda: {
        "n_estimators": 250, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 50, "subsample": 0.8,
        "subsample_freq": 1, "colsample_bytree": 0.8, "verbose": -1})
    models: dict = field(default_factory=dict, repr=False)
    min_history: int = 13
    max_rows: int = 150_000  # training rows are sampled down to this (seeded): enough, and bounded in time

    def _rows(self, y: np.ndarray, promo: np.ndarray, price: np.ndarray, t: int, h: int, period_index: int,
              calendar: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        hist = y[:, :t]
        n = y.shape[0]
        lags = np.stack([hist[:, -k] if t >= k else np.zeros(n) for k in (1, 2, 3, 4, 8)], axis=1)
        target_promo = promo[:, t + h - 1] if t + h - 1 < promo.shape[1] else np.zeros(n)
        if self.plain:
            return np.column_stack([lags, target_promo, np.full(n, h)]), np.ones(n)
        level = hist[:, -8:].mean(axis=1) + 1.0
        past = promo[:, :t] > 0
        n_promo, n_plain = past.sum(axis=1), (~past).sum(axis=1)
        on = np.where(n_promo > 0, (hist * past).sum(axis=1) / np.maximum(n_promo, 1), np.nan)
        off = np.where(n_plain > 0, (hist * ~past).sum(axis=1) / np.maximum(n_plain, 1), np.nan)
        feats = np.column_stack([
            lags / level[:, None], hist[:, -4:].mean(axis=1) / level, hist[:, -13:].mean(axis=1) / level,
            hist[:, -8:].std(axis=1) / level, (hist[:, -8:] == 0).mean(axis=1), target_promo, promo[:, t - 1],
            past.mean(axis=1), on / (off + 1.0), np.full(n, h), np.full(n, (period_index + h) % self.season),
            np.log1p(level),
            price[:, t + h - 1] if self.price_plan and t + h - 1 < price.shape[1] else price[:, t - 1],
            price[:, max(t - 8, 0):t].mean(axis=1),
            # share of all series on promotion in the target period: a storewide event spreads its
            # lift thin, a deal on one item takes share from its neighbours
            np.full(n, target_promo.mean()),
        ])
        if calendar is not None:  # festival days in the target period, the same for every series
            feats = np.column_stack([feats, np.repeat(calendar[t + h - 1][None, :], n, axis=0)])
        return feats, level

    def fit(self, y: np.ndarray, promo: np.ndarray | None, h: int, first_period_index: int = 0,
            calendar: np.ndarray | None = None, price: np.ndarray | None = None) -> GlobalLightGBM:
        """Train on every origin inside ``y`` (n_series, t) whose targets are also inside it.

        ``calendar`` (periods, k), optional: per-period events known in advance (festival days), at
        least as many periods as ``y``; ignored by the plain model. ``price`` (n_series, >= t):
        relative prices, 1.0 when None."""
        import lightgbm as lgb

        promo = np.zeros_like(y) if promo is None else promo
        price = np.ones_like(y) if price is None else price
        X, target = [], []
        for t in range(self.min_history, y.shape[1]):
            for step in range(1, h + 1):
                if t + step - 1 >= y.shape[1]:
                    break
                feats, level = self._rows(y, promo, price, t, step, first_period_index + t,
                                          None if self.plain else calendar)
                X.append(feats)
                target.append(y[:, t + step - 1] / level)
        if not X:
            raise NotEnoughData(f"need more than {self.min_history} periods of history to train the global model",
                                "a longer sales history")
        X, target = np.vstack(X), np.concatenate(target)
        if len(target) > self.max_rows:
            keep = np.random.default_rng(self.seed).choice(len(target), self.max_rows, replace=False)
            X, target = X[keep], target[keep]
        objective = "l2" if self.plain else "l1"
        self.models = {"point": lgb.LGBMRegressor(objective=objective, random_state=self.seed, **self.params).fit(X, target)}
        if not self.plain:
            # the interval bounds need less detail than the point: half the trees at twice the rate
            coarse = {**self.params, "n_estimators": self.params["n_estimators"] // 2,
                      "learning_rate": self.params["learning_rate"] * 2}
            for q in self.quantiles:
                self.models[q] = lgb.LGBMRegressor(objective="quantile", alpha=q, random_state=self.seed,
                                                   **coarse).fit(X, target)
        return self

    def predict(self, y: np.ndarray, promo: np.ndarray | None, h: int, first_period_index: int = 0,
                quantile: float | str = "point", calendar: np.ndarray | None = None,
                price: np.ndarray | None = None) -> np.ndarray:
        """Forecasts (n_series, h) from the end of ``y``; ``promo``, ``price`` and ``calendar`` reach
        h periods past it (planned in advance; ``price`` past the end of ``y`` is read only with
        ``price_plan``)."""
        t = y.shape[1]
        promo = np.zeros((y.shape[0], t + h)) if promo is None else promo
        price = np.ones((y.shape[0], t)) if price is None else price
        out = np.zeros((y.shape[0], h))
        for step in range(1, h + 1):
            feats, level = self._rows(y, promo, price, t, step, first_period_index + t,
                                      None if self.plain else calendar)
            out[:, step - 1] = self.models[quantile].predict(feats) * level
        return np.clip(out, 0, None)


# ---------------------------------------------------------------------------------------------- backtest
def min_history_for(periods: int) -> int:
    """Periods of history before the first training origin: 13 (a quarter of weeks), fewer when short."""
    return max(4, min(13, periods // 2))


@dataclass
class Backtest:
    horizon: int
    origin: int  # index of the first held-out period
    metrics: dict[str, dict[str, float]]
    best_baseline: str
    forecasts: dict[str, np.ndarray]
    per_series_mase: dict[str, np.ndarray]
    # per model, the scaled errors (actual - forecast) / MASE scale of each origin, newest first
    errors: dict[str, list[np.ndarray]]

    def card(self) -> dict:
        ours = self.metrics["smartmall_lightgbm"]["mase"]
        return {"horizon": self.horizon, "origin": self.origin, "metrics": self.metrics,
                "best_baseline": self.best_baseline,
                "mase_vs_best_baseline": round(ours / self.metrics[self.best_baseline]["mase"], 4)}


def holdout_backtest(panel: Panel, h: int, season: int = 52, calendar: np.ndarray | None = None) -> Backtest:
    """Hold out the last ``h`` periods; every model forecasts them from the same origin."""
    if panel.y.shape[1] < h + 10:
        raise NotEnoughData(f"need at least {h + 10} periods for a {h}-period holdout, got {panel.y.shape[1]}",
                            "a longer sales history")
    origin = panel.y.shape[1] - h
    warm_up = min_history_for(origin)
    train, actual = panel.y[:, :origin], panel.y[:, origin:]
    promo = panel.promo
    forecasts = {
        "baseline_naive": naive(train, h),
        "baseline_seasonal_naive": seasonal_naive(train, h, season),
        "baseline_moving_average_4": moving_average(train, h, 4),
        "baseline_ets_damped": ets_damped(train, h),
        "baseline_lightgbm_plain": GlobalLightGBM(plain=True, min_history=warm_up).fit(train, None if promo is None else promo[:, :origin], h)
        .predict(train, promo, h),
    }
    # point forecasts only: the quantile models are not scored here
    price = panel.price
    ours = GlobalLightGBM(season=season, min_history=warm_up, quantiles=()).fit(
        train, None if promo is None else promo[:, :origin], h, calendar=calendar,
        price=None if price is None else price[:, :origin])
    forecasts["smartmall_lightgbm"] = ours.predict(train, promo, h, calendar=calendar, price=price)
    forecasts["smartmall_tsb"] = tsb(train, h)
    metrics = {name: scores(actual, f, train) for name, f in forecasts.items()}
    scale = mase_scale(train)
    per_series = {name: np.abs(actual - f).mean(axis=1) / scale for name, f in forecasts.items()}
    best = min((n for n in metrics if n.startswith("baseline_")), key=lambda n: metrics[n]["mase"])
    errors = {name: [scaled_errors(actual, f, scale)] for name, f in forecasts.items()}
    return Backtest(h, origin, metrics, best, forecasts, per_series, errors)


def best_model_per_class(backtest: Backtest, classes: np.ndarray, candidates: tuple[str, ...]) -> dict[str, str]:
    """For each demand class, the candidate model with the lowest mean MASE on the backtest."""
    out = {}
    for cls in np.unique(classes):
        mask = classes == cls
        out[str(cls)] = min(candidates, key=lambda m: float(backtest.per_series_mase[m][mask].mean()))
    return out


def rolling_origin_backtest(panel: Panel, h: int, origins: int = 3, step: int = 4, season: int = 52,
                            calendar: np.ndarray | None = None) -> Backtest:
    """``holdout_backtest`` from ``origins`` forecast origins ``step`` periods apart (the last one
    holding out the final ``h`` periods); metrics are averaged over the origins, per-series MASE too,
    and the forecasts returned are those of the last origin."""
    runs = []
    for k in range(origins):
        end = panel.y.shape[1] - k * step
        if end < h + 10:
            break
        runs.append(holdout_backtest(panel.cut(end=end), h, season, None if calendar is None else calendar[:end]))
    if not runs:
        raise NotEnoughData(f"need at least {h + 10} periods for a {h}-period backtest, got {panel.y.shape[1]}",
                            "a longer sales history")
    metrics = {name: {m: round(float(np.mean([r.metrics[name][m] for r in runs])), 4) for m in runs[0].metrics[name]}
               for name in runs[0].metrics}
    per_series = {name: np.mean([r.per_series_mase[name] for r in runs], axis=0) for name in runs[0].per_series_mase}
    best = min((n for n in metrics if n.startswith("baseline_")), key=lambda n: metrics[n]["mase"])
    last = runs[0]
    errors = {name: [r.errors[name][0] for r in runs] for name in runs[0].errors}
    return Backtest(h, last.origin, metrics, best, last.forecasts, per_series, errors)
