"""Sales trends: net revenue by day, week or month, split by region, store, category or channel,
with a drill-down region -> store -> SKU."""

from __future__ import annotations

from typing import Literal

import polars as pl

from dashboards.filters import Filters
from dashboards.snapshot import Marts

Grain = Literal["day", "week", "month"]
Split = Literal["region", "store_id", "category", "channel"]


def trend(src: Marts, f: Filters, grain: Grain = "week", by: Split = "region") -> pl.DataFrame:
    """period (start day), key, net_revenue (currency), units (net of returns)."""
    assert grain in ("day", "week", "month") and by in ("region", "store_id", "category", "channel")
    where, params = f.where("sale_date")
    return src.query(f"""
        SELECT date_trunc('{grain}', sale_date)::DATE AS period, coalesce({by}, 'unknown') AS key,
               sum(net_revenue)::DOUBLE AS net_revenue, sum(net_units)::BIGINT AS units
        FROM marts.fct_sales_daily WHERE {where} GROUP BY ALL ORDER BY 1, 2""", params)


def drill(src: Marts, f: Filters) -> tuple[str, pl.DataFrame]:
    """The next level down from the filters: regions, a region's stores, or a store's SKUs; with
    net revenue in the period and the period before and the change."""
    level = "sku" if f.store else "store_id" if f.region else "region"
    now_where, now_params = f.where("sale_date")
    before_where, before_params = f.previous().where("sale_date")
    frame = src.query(f"""
        WITH now AS (SELECT {level} AS key, sum(net_revenue)::DOUBLE AS net_revenue, sum(net_units)::BIGINT AS units
                     FROM marts.fct_sales_daily WHERE {now_where} GROUP BY 1),
             before AS (SELECT {level} AS key, sum(net_revenue)::DOUBLE AS previous
                        FROM marts.fct_sales_daily WHERE {before_where} GROUP BY 1)
        SELECT key, coalesce(net_revenue, 0) AS net_revenue, coalesce(units, 0) AS units,
               coalesce(previous, 0) AS previous,
               CASE WHEN previous > 0 THEN coalesce(net_revenue, 0) / previous - 1 END AS change
        FROM now FULL JOIN before USING (key) ORDER BY net_revenue DESC""", now_params + before_params)
    return level, frame
