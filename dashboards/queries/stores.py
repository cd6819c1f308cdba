"""Stores and IoT: footfall by hour and store, footfall-to-purchase conversion, and the sensor
alerts (smart shelves running low, cold-chain temperatures out of range)."""

from __future__ import annotations

import polars as pl

from dashboards.filters import Filters
from dashboards.snapshot import Marts

FOOTFALL = "(SELECT h.*, s.region FROM marts.fct_footfall_hourly h LEFT JOIN marts.dim_store s USING (store_id))"


def by_hour(src: Marts, f: Filters) -> pl.DataFrame:
    """store_id, hour_of_day (0-23), visitors per day on average."""
    where, params = f.where("visit_date", channel=None)
    return src.query(f"""
        SELECT store_id, hour(hour) AS hour_of_day, sum(visitors) / count(DISTINCT visit_date) AS visitors_per_day
        FROM {FOOTFALL} WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2""", params)


def conversion(src: Marts, f: Filters) -> pl.DataFrame:
    """Per store: visitors, in-store orders and their ratio over the period."""
    where, params = f.where("visit_date", channel=None)
    return src.query(f"""
        SELECT store_id, sum(visitors)::DOUBLE AS visitors, sum(in_store_orders)::BIGINT AS in_store_orders,
               sum(in_store_orders) / nullif(sum(visitors), 0) AS conversion
        FROM {FOOTFALL} WHERE {where} GROUP BY 1 ORDER BY 1""", params)


def alerts(src: Marts, f: Filters) -> pl.DataFrame:
    """The sensor alerts of the period, newest first."""
    where, params = f.where("a.alert_date", channel=None, region="s.region", store="a.store_id")
    return src.query(f"""
        SELECT a.alert_date, a.alert, a.store_id, a.device_id, a.sku, a.readings, a.worst_value, a.first_at, a.last_at,
               a.detail
        FROM marts.fct_iot_alerts a LEFT JOIN marts.dim_store s USING (store_id)
        WHERE {where} ORDER BY a.alert_date DESC, a.alert, a.store_id""", params)
