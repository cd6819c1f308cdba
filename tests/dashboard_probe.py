"""Every query the dashboards' pages make, run on one marts source, each result written to a Parquet
file: ``python -m tests.dashboard_probe OUT_DIR`` with the settings of the source in the environment
(the marts snapshot, or SMARTMALL_WAREHOUSE=clickhouse with a CLICKHOUSE_URL). A process of its own
because the embedded ClickHouse engine allows one data path per process."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl

from dashboards.filters import Filters
from dashboards.queries import (
    basket,
    customers,
    forecasts,
    funnel,
    inventory,
    overview,
    sales,
    search,
    segments,
    stores,
    weekly,
)
from dashboards.snapshot import Marts, marts_source
from data.settings import load_settings
from serving.segments import SegmentRule


def _frame(value: object) -> pl.DataFrame:
    if isinstance(value, pl.DataFrame):
        return value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], pl.DataFrame):
        return value[1].with_columns(pl.lit(value[0]).alias("_level"))
    if hasattr(value, "__dataclass_fields__"):
        return pl.DataFrame([vars(value)])
    if isinstance(value, dict):
        return pl.DataFrame({"key": list(value), "value": [str(v) for v in value.values()]})
    if isinstance(value, list | tuple):
        return pl.DataFrame({"value": [str(v) for v in value]})
    return pl.DataFrame({"value": [value]})


def calls(src: Marts) -> dict[str, Callable[[], object]]:
    """name -> a page's query with the filters a page opens with, and with each filter set."""
    first, last = overview.data_range(src)
    f = Filters.from_params({}, first, last)
    opts = overview.choices(src)
    narrow = Filters(f.start, f.end, opts["channel"][0], opts["region"][0], None)
    store = Filters(f.start, f.end, None, opts["region"][0], opts["store"][0])
    series = forecasts.series(src, f).row(0, named=True)
    monday: date = weekly.weeks(src)[1]
    seg = segments.options(src)
    rule = SegmentRule(rfm_segments=tuple(seg["rfm_segments"][:2]), min_orders=1, bought_category=seg["categories"][0],
                       bought_within_days=90)
    out: dict[str, Callable[[], object]] = {
        "basket.rules": lambda: basket.rules(src), "basket.categories": lambda: basket.categories(src),
        "customers.segments": lambda: customers.segments(src), "customers.movements": lambda: customers.movements(src),
        "customers.clv": lambda: customers.clv(src), "customers.winback": lambda: customers.winback(src),
        "forecasts.series": lambda: forecasts.series(src, f),
        "forecasts.history": lambda: forecasts.history_and_forecast(src, series["sku"], series["location_id"]),
        "forecasts.hierarchy": lambda: forecasts.hierarchy(src, "category",
                                                           forecasts.hierarchy_keys(src, "category")[0]),
        "forecasts.hierarchy_all": lambda: forecasts.hierarchy(src, "all", forecasts.hierarchy_keys(src, "all")[0]),
        "funnel.paths_order": lambda: funnel.paths(src, f, "order"),
        "funnel.paths_abandoned": lambda: funnel.paths(src, narrow, "abandoned"),
        "funnel.time_to_convert": lambda: funnel.time_to_convert(src, f),
        "overview.choices": lambda: overview.choices(src),
        "segments.members": lambda: segments.members(src, rule),
        "segments.options": lambda: seg,
        "weekly.weeks": lambda: weekly.weeks(src),
        "weekly.report": lambda: weekly.report(src, monday, f),
        "weekly.movers": lambda: weekly.movers(src, monday, f),
    }
    for name, filters in (("default", f), ("narrow", narrow), ("store", store)):
        out |= {
            f"funnel.steps_channel.{name}": lambda fl=filters: funnel.steps(src, fl),
            f"funnel.steps_device.{name}": lambda fl=filters: funnel.steps(src, fl, "device"),
            f"inventory.health.{name}": lambda fl=filters: inventory.health(src, fl),
            f"inventory.alerts.{name}": lambda fl=filters: inventory.alerts(src, fl),
            f"inventory.replenishment.{name}": lambda fl=filters: inventory.replenishment(src, fl),
            f"inventory.transfers.{name}": lambda fl=filters: inventory.transfers(src, fl),
            f"overview.kpis.{name}": lambda fl=filters: overview.kpis(src, fl),
            f"overview.turnover_days.{name}": lambda fl=filters: overview.turnover_days(src, fl),
            f"overview.slow_moving_share.{name}": lambda fl=filters: overview.slow_moving_share(src, fl),
            f"overview.daily.{name}": lambda fl=filters: overview.daily(src, fl),
            f"sales.trend_week.{name}": lambda fl=filters: sales.trend(src, fl),
            f"sales.trend_month.{name}": lambda fl=filters: sales.trend(src, fl, "month", "category"),
            f"sales.trend_day.{name}": lambda fl=filters: sales.trend(src, fl, "day", "channel"),
            f"sales.drill.{name}": lambda fl=filters: sales.drill(src, fl),
            f"search.top.{name}": lambda fl=filters: search.top(src, fl),
            f"search.dead_ends.{name}": lambda fl=filters: search.dead_ends(src, fl, min_searches=1),
            f"search.rising.{name}": lambda fl=filters: search.rising(src, fl),
            f"stores.by_hour.{name}": lambda fl=filters: stores.by_hour(src, fl),
            f"stores.conversion.{name}": lambda fl=filters: stores.conversion(src, fl),
            f"stores.alerts.{name}": lambda fl=filters: stores.alerts(src, fl),
        }
    return out


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    src = marts_source(load_settings())
    assert src.version and src.tables() >= {"fct_orders", "fct_sessions"}  # the pages' cache key and catalogue
    for name, call in calls(src).items():
        _frame(call()).write_parquet(out / f"{name}.parquet")
    print(f"{type(src).__name__}: {len(list(out.glob('*.parquet')))} queries")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
