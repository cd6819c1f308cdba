"""Overview: the headline numbers of a period beside the period before."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dashboards.filters import Filters
from dashboards.queries import ORDERS
from dashboards.snapshot import Marts


@dataclass(frozen=True)
class Kpis:
    gmv: float  # net revenue of the period's sales (returns are not sales), currency units
    orders: int  # sales orders (returns excluded)
    aov: float | None  # gmv / orders
    conversion: float | None  # share of sessions that ended in an order (channel filter only)
    repurchase: float | None  # share of the period's buying members with 2+ orders in it
    bopis: float | None  # share of orders picked up in store


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def kpis(src: Marts, f: Filters) -> Kpis:
    where, params = f.where("order_date")
    o = src.query(f"""
        SELECT coalesce(sum(net_revenue), 0)::DOUBLE AS gmv, count(*) AS orders,
               count(*) FILTER (WHERE fulfillment = 'pickup') AS pickup
        FROM {ORDERS} WHERE NOT is_return AND {where}""", params).row(0, named=True)
    members = src.query(f"""
        SELECT count(*) AS buyers, count(*) FILTER (WHERE n >= 2) AS repeat FROM (
            SELECT customer_id, count(*) AS n FROM {ORDERS}
            WHERE NOT is_return AND customer_id IS NOT NULL AND {where} GROUP BY 1)""", params).row(0, named=True)
    s_where, s_params = f.where("session_date", region=None, store=None)
    sessions = src.query(f"""SELECT count(*) AS sessions, count(*) FILTER (WHERE converted) AS converted
                             FROM marts.fct_sessions WHERE {s_where}""", s_params).row(0, named=True)
    return Kpis(gmv=o["gmv"], orders=o["orders"], aov=_share(o["gmv"], o["orders"]),
                conversion=_share(sessions["converted"], sessions["sessions"]),
                repurchase=_share(members["repeat"], members["buyers"]), bopis=_share(o["pickup"], o["orders"]))


def turnover_days(src: Marts, f: Filters) -> float | None:
    """Days of outflow the average stock of the period would last: mean stock on hand / mean daily
    outflow (what stores sell, what warehouses ship on; ``marts.inventory_health``'s definition),
    over the locations the store and region filters select."""
    where, params = f.where("i.stock_date", channel=None, region="s.region", store="i.location_id")
    value = src.query(f"""
        SELECT avg(on_hand) / nullif(avg(sold), 0) AS days FROM (
            SELECT i.stock_date, sum(i.on_hand)::DOUBLE AS on_hand,
                   sum(i.sold + abs(i.transferred_out))::DOUBLE AS sold
            FROM marts.fct_inventory_daily i LEFT JOIN marts.dim_store s ON s.store_id = i.location_id
            WHERE {where} GROUP BY 1)""", params)["days"][0]
    return None if value is None else float(value)


def slow_moving_share(src: Marts, f: Filters, days: int = 30) -> float | None:
    """On the period's last stock day: the share of SKU x locations that hold stock and moved none of
    it (sold or shipped on) in the ``days`` before: ``marts.inventory_health``'s definition, on any
    day (store and region filters apply)."""
    where, params = f.where("i.stock_date", channel=None, region="s.region", store="i.location_id")
    value = src.query(f"""
        WITH scope AS (SELECT i.* FROM marts.fct_inventory_daily i LEFT JOIN marts.dim_store s
                       ON s.store_id = i.location_id WHERE {where}),
             last_day AS (SELECT max(stock_date) AS d FROM scope),
             held AS (SELECT sku, location_id, on_hand FROM scope WHERE stock_date = (SELECT d FROM last_day)),
             moving AS (SELECT DISTINCT sku, location_id FROM scope
                        WHERE stock_date > (SELECT d FROM last_day) - INTERVAL (?) DAY
                          AND sold + abs(transferred_out) > 0)
        SELECT count(*) FILTER (WHERE h.on_hand > 0 AND m.sku IS NULL) / nullif(count(*), 0) AS share
        FROM held h LEFT JOIN moving m USING (sku, location_id)""", [*params, days])["share"][0]
    return None if value is None else float(value)


def daily(src: Marts, f: Filters) -> pl.DataFrame:
    """Per day of the period: gmv, orders."""
    where, params = f.where("order_date")
    return src.query(f"""SELECT order_date AS day, sum(net_revenue)::DOUBLE AS gmv, count(*) AS orders
                         FROM {ORDERS} WHERE NOT is_return AND {where} GROUP BY 1 ORDER BY 1""", params)


def data_range(src: Marts) -> tuple:
    """First and last order day in the marts (the filters' bounds)."""
    return src.query("SELECT min(order_date) AS first, max(order_date) AS last FROM marts.fct_orders").row(0)


def choices(src: Marts) -> dict[str, list[str]]:
    """Values for the shared filters."""
    return {
        "channel": src.query("SELECT DISTINCT channel FROM marts.fct_orders WHERE channel IS NOT NULL ORDER BY 1")
        ["channel"].to_list(),
        "region": src.query("SELECT DISTINCT region FROM marts.dim_store WHERE location_kind = 'store' ORDER BY 1")
        ["region"].to_list(),
        "store": src.query("SELECT DISTINCT store_id FROM marts.fct_orders ORDER BY 1")["store_id"].to_list(),
    }
