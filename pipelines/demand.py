"""The demand block: weekly forecasts per SKU x location from the marts, chosen per demand class by
backtest, and recorded in the model registry.

Reads ``marts.fct_sales_daily`` (units sold per SKU x location x channel x day, promotion flag) and
writes ``model_outputs.forecasts`` (weekly). dbt publishes it as ``marts.forecasts`` and builds
``marts.forecasts_daily`` (the weekly forecast spread over the days by each series' weekday
profile) and ``marts.forecast_hierarchy`` (bottom-up sums by store, region, category and in total,
so every level adds up) over it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import polars as pl

from data.calendar import weekly_festival_days
from models.errors import NotEnoughData
from models.forecast import (
    GlobalLightGBM,
    best_model_per_class,
    demand_class,
    ets_damped,
    mase_scale,
    min_history_for,
    moving_average,
    naive,
    panel_from_long,
    rolling_origin_backtest,
    tsb,
)
from models.intervals import LEVELS, calibrate, coverage
from pipelines.marts import write_empty, write_mart
from serving.registry import Registry

HORIZON_WEEKS = 8  # the default of SMARTMALL_FORECAST_HORIZON_WEEKS
MIN_WEEKS = 12
# an upper bound above this multiple of the series' largest week is capped, and the card counts it
UPPER_CAP_MULTIPLE = 3.0
COVERAGE_TOLERANCE = 0.05  # the randomized coverage of a calibrated interval is within this of nominal
MIN_CALIBRATION_SERIES = 20  # sampled series of a demand class needed to calibrate its intervals alone
BACKTEST_SERIES = 300  # model choice is backtested on a seeded sample of at most this many series ...
BACKTEST_ORIGINS = 4  # ... from this many forecast origins (rolling origin; each scores the intervals of the older)
CANDIDATES = ("smartmall_lightgbm", "smartmall_tsb", "baseline_ets_damped", "baseline_moving_average_4",
              "baseline_naive")


def weekly_sales(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, list[date]]:
    """Units sold per SKU x location x ISO week (Monday) over the full weeks of the data, with the
    promotion flag and the relative price paid (net / gross revenue: 1.0 without discounts)."""
    long = con.sql("""
        SELECT sku, store_id AS location_id, CAST(date_trunc('week', sale_date) AS DATE) AS week_start,
               CAST(sum(units_sold) AS DOUBLE) AS units, max(CAST(on_promotion AS INTEGER)) AS promo,
               CAST(sum(net_revenue) FILTER (WHERE revenue > 0) / nullif(sum(revenue) FILTER (WHERE revenue > 0), 0)
                    AS DOUBLE) AS price
        FROM marts.fct_sales_daily WHERE store_id IS NOT NULL AND sku IS NOT NULL
        GROUP BY ALL ORDER BY ALL""").pl()  # in order: the models must not depend on how the engine hashed
    if long.is_empty():
        raise NotEnoughData("no sales with a SKU and a location: nothing to forecast",
                            "transactions with a sku (a store_id too for per-store forecasts)")
    first, last = con.execute("SELECT min(sale_date), max(sale_date) FROM marts.fct_sales_daily").fetchall()[0]
    start = first + timedelta(days=(7 - first.weekday()) % 7)  # first full week
    end = last - timedelta(days=(last.weekday() + 1) % 7)  # last Sunday on or before the last day
    weeks = []
    while start + timedelta(days=6) <= end:
        weeks.append(start)
        start += timedelta(weeks=1)
    return long, weeks


def _final_forecasts(y: np.ndarray, model: str, h: int, lightgbm: GlobalLightGBM, calendar: np.ndarray,
                     price: np.ndarray | None) -> np.ndarray:
    if model == "smartmall_lightgbm":
        return lightgbm.predict(y, None, h, calendar=calendar, price=price)
    if model == "smartmall_tsb":
        return tsb(y, h)
    if model == "baseline_ets_damped":
        return ets_damped(y, h)
    if model == "baseline_moving_average_4":
        return moving_average(y, h, 4)
    return naive(y, h)


def build_forecasts(con: duckdb.DuckDBPyConnection, registry: Registry, horizon: int = HORIZON_WEEKS) -> dict:
    long, weeks = weekly_sales(con)
    if len(weeks) < MIN_WEEKS:
        raise NotEnoughData(f"{len(weeks)} full weeks of sales: at least {MIN_WEEKS} are needed to backtest a forecast",
                            f"at least {MIN_WEEKS} weeks of transactions")
    panel = panel_from_long(long, ["sku", "location_id"], "week_start", "units", weeks, promo="promo", price="price")
    holdout = min(8, max(2, len(weeks) // 4))
    sample = np.sort(np.random.default_rng(7).choice(len(panel.keys), min(BACKTEST_SERIES, len(panel.keys)),
                                                     replace=False))
    tested = panel.cut(sample)
    future = [weeks[-1] + timedelta(weeks=k) for k in range(1, horizon + 1)]
    calendar = weekly_festival_days(weeks + future)  # festivals are known in advance
    result = rolling_origin_backtest(tested, holdout, origins=BACKTEST_ORIGINS, step=holdout, calendar=calendar)
    classes_bt = demand_class(tested.y[:, :result.origin])
    choice = best_model_per_class(result, classes_bt, CANDIDATES)
    card = result.card()
    passed = card["mase_vs_best_baseline"] <= 1.0

    # refit on every week; future promotions and prices are not known here: no promotion, regular prices ahead
    lightgbm = GlobalLightGBM(min_history=min_history_for(len(weeks)), quantiles=()).fit(panel.y, panel.promo, horizon,
                                                                             calendar=calendar, price=panel.price)
    classes = demand_class(panel.y)
    point = np.zeros((panel.y.shape[0], horizon))
    chosen = np.empty(panel.y.shape[0], dtype=object)
    for cls in np.unique(classes):
        mask = classes == cls
        model = choice.get(str(cls), "smartmall_lightgbm")
        point[mask] = _final_forecasts(panel.y[mask], model, horizon, lightgbm, calendar, panel.price[mask])
        chosen[mask] = model
    bounds, interval_card = _intervals(panel.y, point, chosen, classes, result, classes_bt)
    if not all(np.isfinite(a).all() for a in (point, *bounds.values())):
        raise ValueError("a forecast is not finite")  # never write NaN into the mart
    generated = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    n = panel.y.shape[0]
    frame = pl.DataFrame({
        "sku": np.repeat(panel.keys["sku"].to_numpy(), horizon),
        "location_id": np.repeat(panel.keys["location_id"].to_numpy(), horizon),
        "week_start": future * n,
        "model": np.repeat(chosen.astype(str), horizon),
        "demand_class": np.repeat(classes.astype(str), horizon),
        "forecast_units": point.ravel(),
        **{name: bound.ravel() for name, bound in bounds.items()},
    }).with_columns(generated_at=pl.lit(generated))
    write_mart(con, "forecasts", frame)
    new_items = _new_items(con)
    registry.register("forecast", {
        "data_window": [str(weeks[0]), str(weeks[-1] + timedelta(days=6))],
        "parameters": {"horizon_weeks": horizon, "holdout_weeks": holdout, "origins": BACKTEST_ORIGINS,
                       "candidates": list(CANDIDATES),
                       "backtest_series": len(sample), "series": len(panel.keys),
                       "lightgbm": lightgbm.params, "upper_cap_multiple": UPPER_CAP_MULTIPLE},
        "backtest": card, "model_per_demand_class": choice, "intervals": interval_card,
        "demand_classes": {str(c): int((classes == c).sum()) for c in np.unique(classes)},
    }, {"model.pkl": lightgbm}, passed=passed)
    return {"series": n, "new_items_from_category": new_items, "weeks": len(weeks), "horizon_weeks": horizon, "holdout_weeks": holdout,
            "backtest_mase": card["metrics"]["smartmall_lightgbm"]["mase"], "best_baseline": card["best_baseline"],
            "best_baseline_mase": card["metrics"][card["best_baseline"]]["mase"],
            "mase_vs_best_baseline": card["mase_vs_best_baseline"], "model_per_class": choice,
            "interval_coverage": interval_card["coverage"], "upper_bounds_capped": interval_card["upper_bounds_capped"],
            "checks_passed": passed}


def _intervals(y: np.ndarray, point: np.ndarray, chosen: np.ndarray, classes: np.ndarray, backtest,
               classes_bt: np.ndarray) -> tuple[dict[str, np.ndarray], dict]:
    """80 % and 95 % intervals of each series from the backtest errors of its chosen model on the
    sampled series of its own demand class (split conformal, ``models.intervals``; the class's errors
    are what that model will make there, an intermittent series' are not a smooth one's). A class
    with fewer than ``MIN_CALIBRATION_SERIES`` sampled series uses the model's errors on all of them.
    The card holds the out-of-time coverage per model and class. An upper bound above
    ``UPPER_CAP_MULTIPLE`` x the series' largest week is capped there and counted."""
    scale = mase_scale(y)
    bounds = {name: np.zeros_like(point) for name in ("lower_units", "upper_units", "lower_95_units", "upper_95_units")}
    cover: dict[str, dict] = {}
    for cls in np.unique(classes):
        mask, model = classes == cls, str(chosen[classes == cls][0])
        rows = classes_bt == cls
        errors = backtest.errors[model]
        if rows.sum() >= MIN_CALIBRATION_SERIES:
            errors = [e[rows] for e in errors]
        offsets = calibrate(errors)
        scored = coverage(errors)
        scored["within_5_points"] = all(abs(scored[f"coverage_{round(lv * 100)}_randomized"] - lv) <= COVERAGE_TOLERANCE
                                        for lv in LEVELS)
        cover[f"{model}/{cls}"] = {"series": int(mask.sum()), "calibration_series": int(errors[0].shape[0]), **scored}
        for level, (lo_name, hi_name) in zip(LEVELS, (("lower_units", "upper_units"),
                                                      ("lower_95_units", "upper_95_units")), strict=True):
            lo, hi = offsets.interval(point[mask], scale[mask], level)
            bounds[lo_name][mask], bounds[hi_name][mask] = lo, hi
    cap = UPPER_CAP_MULTIPLE * np.maximum(y.max(axis=1), 1.0)[:, None]
    capped = int((bounds["upper_95_units"] > cap).sum())
    for name in bounds:
        bounds[name] = np.minimum(bounds[name], np.maximum(cap, point))
    return bounds, {"method": "split conformal on the backtest's scaled errors, per model, demand class and "
                              "horizon step; coverage pooled over rolling origins, each scored with offsets "
                              "calibrated on the older ones; 'randomized' breaks ties at the forecast at random "
                              "(see models/intervals.py)",
                    "coverage": cover, "upper_bounds_capped": capped,
                    "cap": f"{UPPER_CAP_MULTIPLE}x the series' largest week (never below the point forecast)"}


def _new_items(con: duckdb.DuckDBPyConnection) -> int:
    """SKUs stocked at a store with no sales history there (new listings) get the average forecast of
    their category at that store (else of their category anywhere), marked ``category_fallback``."""
    con.execute("""
        INSERT INTO model_outputs.forecasts
        WITH last_day AS (SELECT max(stock_date) AS d FROM marts.fct_inventory_daily),
        stocked AS (SELECT DISTINCT i.sku, i.location_id, p.category FROM marts.fct_inventory_daily i
                    JOIN marts.dim_product p USING (sku) CROSS JOIN last_day
                    JOIN marts.dim_store st ON st.store_id = i.location_id
                    -- stores sell; a warehouse holding an item it never sold keeps it for its stores
                    WHERE i.stock_date = last_day.d AND i.on_hand > 0 AND st.location_kind = 'store'),
        new_items AS (SELECT s.* FROM stocked s ANTI JOIN (SELECT DISTINCT sku, location_id FROM model_outputs.forecasts) f
                      USING (sku, location_id)),
        with_category AS (SELECT f.*, p.category FROM model_outputs.forecasts f JOIN marts.dim_product p USING (sku)),
        by_location AS (SELECT category, location_id, week_start, avg(forecast_units) AS point,
                               avg(lower_units) AS lower, avg(upper_units) AS upper,
                               avg(lower_95_units) AS lower_95, avg(upper_95_units) AS upper_95
                        FROM with_category GROUP BY ALL),
        by_category AS (SELECT category, week_start, avg(forecast_units) AS point, avg(lower_units) AS lower,
                               avg(upper_units) AS upper, avg(lower_95_units) AS lower_95,
                               avg(upper_95_units) AS upper_95 FROM with_category GROUP BY ALL)
        SELECT n.sku, n.location_id, c.week_start, 'category_fallback', 'new_item',
               coalesce(l.point, c.point), coalesce(l.lower, c.lower), coalesce(l.upper, c.upper),
               coalesce(l.lower_95, c.lower_95), coalesce(l.upper_95, c.upper_95),
               (SELECT max(generated_at) FROM model_outputs.forecasts)
        FROM new_items n JOIN by_category c ON c.category = n.category
        LEFT JOIN by_location l ON l.category = n.category AND l.location_id = n.location_id
                               AND l.week_start = c.week_start""")
    return con.execute("SELECT count(DISTINCT sku || '@' || location_id) FROM model_outputs.forecasts "
                       "WHERE model = 'category_fallback'").fetchall()[0][0]


def build_forecasts_or_skip(con: duckdb.DuckDBPyConnection, registry: Registry,
                            horizon: int = HORIZON_WEEKS) -> dict:
    try:
        return build_forecasts(con, registry, horizon)
    except NotEnoughData as exc:  # too little history (or no sales) for a backtest: say so, write empty marts
        write_empty(con, ("forecasts",))
        return exc.as_skip()
