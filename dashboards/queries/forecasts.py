"""Forecasts: weekly forecast with its 80 % and 95 % intervals beside the weeks sold before."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dashboards.filters import Filters
from dashboards.snapshot import Marts
from serving.registry import Registry


def series(src: Marts, f: Filters) -> pl.DataFrame:
    """The forecast series (sku, location_id, model, demand class), biggest forecast first."""
    parts, params = ["TRUE"], []
    if f.store:
        parts.append("location_id = ?")
        params.append(f.store)
    return src.query(f"""SELECT sku, location_id, any_value(model) AS model, any_value(demand_class) AS demand_class,
                                sum(forecast_units)::DOUBLE AS forecast_units
                         FROM marts.forecasts WHERE {' AND '.join(parts)} GROUP BY 1, 2 ORDER BY 5 DESC""", params)


def history_and_forecast(src: Marts, sku: str, location_id: str, weeks_back: int = 26) -> pl.DataFrame:
    """week_start, kind ('actual' | 'forecast'), units, lower_80, upper_80, lower_95, upper_95. A
    warehouse's actuals are the sales of the stores it supplies (the same tree the forecasts use)."""
    return src.query("""
        WITH served AS (SELECT store_id FROM marts.dim_store
                        WHERE ? IN (store_id, regional_warehouse_id, central_warehouse_id)),
             actual AS (SELECT date_trunc('week', sale_date)::DATE AS week_start, sum(net_units)::DOUBLE AS units
                        FROM marts.fct_sales_daily WHERE sku = ? AND store_id IN (SELECT store_id FROM served)
                        GROUP BY 1)
        SELECT week_start, 'actual' AS kind, units, NULL::DOUBLE AS lower_80, NULL::DOUBLE AS upper_80,
               NULL::DOUBLE AS lower_95, NULL::DOUBLE AS upper_95
        FROM actual WHERE week_start >= (SELECT max(week_start) FROM actual) - INTERVAL (?) WEEK
        UNION ALL
        SELECT week_start, 'forecast', forecast_units, lower_units, upper_units, lower_95_units, upper_95_units
        FROM marts.forecasts WHERE sku = ? AND location_id = ?
        ORDER BY week_start""", [location_id, sku, weeks_back, sku, location_id])


LEVELS = {"category": "category", "region": "region", "all": None}  # forecast_hierarchy level -> sales column


def hierarchy_keys(src: Marts, level: str) -> list[str]:
    assert level in LEVELS
    return src.query("SELECT DISTINCT key FROM marts.forecast_hierarchy WHERE level = ? ORDER BY 1", [level]
                     )["key"].to_list()


def hierarchy(src: Marts, level: str, key: str, weeks_back: int = 26) -> pl.DataFrame:
    """week_start, kind ('actual' | 'forecast'), units: a category's, a region's or the whole
    chain's weekly units sold and their forecast (the reconciled sum of the series below it; no
    interval: the quantiles of a sum are not the sum of the quantiles)."""
    column = LEVELS[level]
    match, params = (f"{column} = ?", [key]) if column else ("TRUE", [])
    return src.query(f"""
        WITH actual AS (SELECT date_trunc('week', sale_date)::DATE AS week_start, sum(net_units)::DOUBLE AS units
                        FROM marts.fct_sales_daily WHERE {match} GROUP BY 1)
        SELECT week_start, 'actual' AS kind, units FROM actual
        WHERE week_start >= (SELECT max(week_start) FROM actual) - INTERVAL (?) WEEK
        UNION ALL
        SELECT week_start, 'forecast', forecast_units FROM marts.forecast_hierarchy WHERE level = ? AND key = ?
        ORDER BY week_start""", [*params, weeks_back, level, key])


def backtest(registry: Path) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    """From the forecast model's registry card: (summary, metrics per model on the backtest, interval
    coverage per model x demand class). Empty frames when no forecast was trained yet."""
    versions = Registry(registry).versions("forecast")
    if not versions:
        return {}, pl.DataFrame(), pl.DataFrame()
    card = versions[-1].card
    bt = card.get("backtest", {})
    metrics = pl.DataFrame([{"model": m, **v, "best_baseline": m == bt.get("best_baseline")}
                            for m, v in bt.get("metrics", {}).items()])
    coverage = pl.DataFrame([{"model_and_class": k, **v} for k, v in card.get("intervals", {}).get("coverage", {}).items()])
    summary = {"version": card.get("version"), "data_window": card.get("data_window"),
               "horizon_weeks": bt.get("horizon"), "mase_vs_best_baseline": bt.get("mase_vs_best_baseline"),
               "best_baseline": bt.get("best_baseline"), "model_per_demand_class": card.get("model_per_demand_class")}
    return summary, metrics.sort("mase") if not metrics.is_empty() else metrics, coverage
