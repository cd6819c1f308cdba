"""The weekly operating report (M8.1): traffic -> conversion -> retention -> repurchase for a week,
against the week before and the same week a year before, and the three biggest movers by region
and category with what moved (orders or basket size)."""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import date, timedelta

import polars as pl

from dashboards.filters import Filters
from dashboards.queries import ORDERS
from dashboards.snapshot import Marts

METRICS = ("sessions", "conversion", "orders", "gmv", "aov", "buying_members", "retention", "repurchase")
LABELS = {"sessions": "Traffic (sessions)", "conversion": "Conversion (sessions with an order)", "orders": "Orders",
          "gmv": "GMV", "aov": "Average order value", "buying_members": "Buying members",
          "retention": "Retention (last week's buyers who bought again)",
          "repurchase": "Repurchase (buyers who had bought before)"}
RATES = {"conversion", "retention", "repurchase"}


def weeks(src: Marts) -> list[date]:
    """Week starts (Mondays) with orders, newest first."""
    return src.query("SELECT DISTINCT date_trunc('week', order_date)::DATE AS week FROM marts.fct_orders "
                     "ORDER BY 1 DESC")["week"].to_list()


def _week(src: Marts, monday: date, f: Filters) -> dict[str, float | None]:
    w = replace(f, start=monday, end=monday + timedelta(days=6))
    where, params = w.where("order_date")
    s_where, s_params = w.where("session_date", region=None, store=None)
    sessions = src.query(f"SELECT count(*) AS n, count(*) FILTER (WHERE converted) AS converted "
                         f"FROM marts.fct_sessions WHERE {s_where}", s_params).row(0, named=True)
    o = src.query(f"""SELECT count(*) AS orders, coalesce(sum(net_revenue), 0)::DOUBLE AS gmv
                      FROM {ORDERS} WHERE NOT is_return AND {where}""", params).row(0, named=True)
    before_where, before_params = replace(w, start=monday - timedelta(days=7), end=monday - timedelta(days=1)
                                          ).where("order_date")
    m = src.query(f"""
        WITH now AS (SELECT DISTINCT customer_id FROM {ORDERS} WHERE NOT is_return AND customer_id IS NOT NULL AND {where}),
             last_week AS (SELECT DISTINCT customer_id FROM {ORDERS}
                           WHERE NOT is_return AND customer_id IS NOT NULL AND {before_where}),
             earlier AS (SELECT DISTINCT customer_id FROM marts.fct_orders WHERE NOT is_return AND order_date < ?)
        SELECT (SELECT count(*) FROM now) AS buyers, (SELECT count(*) FROM last_week) AS last_week,
               (SELECT count(*) FROM last_week WHERE customer_id IN (SELECT customer_id FROM now)) AS retained,
               (SELECT count(*) FROM now WHERE customer_id IN (SELECT customer_id FROM earlier)) AS returning""",
                  [*params, *before_params, monday]).row(0, named=True)

    def share(a: float, b: float) -> float | None:
        return a / b if b else None

    return {"sessions": sessions["n"], "conversion": share(sessions["converted"], sessions["n"]),
            "orders": o["orders"], "gmv": o["gmv"], "aov": share(o["gmv"], o["orders"]),
            "buying_members": m["buyers"], "retention": share(m["retained"], m["last_week"]),
            "repurchase": share(m["returning"], m["buyers"])}


def report(src: Marts, monday: date, f: Filters) -> pl.DataFrame:
    """metric, label, this_week, week_before, last_year (the same ISO week a year before, when the
    data reaches back that far), vs_week_before and vs_last_year (relative changes; for rates, the
    change in points)."""
    now, before = _week(src, monday, f), _week(src, monday - timedelta(days=7), f)
    year_ago = _week(src, monday - timedelta(weeks=52), f)
    if not year_ago["orders"] and not year_ago["sessions"]:
        year_ago = dict.fromkeys(METRICS)

    def delta(metric: str, a: float | None, b: float | None) -> float | None:
        if a is None or b is None or (metric not in RATES and not b):
            return None
        return a - b if metric in RATES else a / b - 1

    return pl.DataFrame([{"metric": k, "label": LABELS[k], "this_week": now[k], "week_before": before[k],
                          "last_year": year_ago[k], "vs_week_before": delta(k, now[k], before[k]),
                          "vs_last_year": delta(k, now[k], year_ago[k])} for k in METRICS],
                        schema={"metric": pl.String, "label": pl.String, "this_week": pl.Float64,
                                "week_before": pl.Float64, "last_year": pl.Float64, "vs_week_before": pl.Float64,
                                "vs_last_year": pl.Float64})


def movers(src: Marts, monday: date, f: Filters, n: int = 3) -> pl.DataFrame:
    """The ``n`` region x category cells whose GMV changed most (either way) against the week before,
    with orders and average order value, and a sentence that says what moved."""
    now_where, now_params = replace(f, start=monday, end=monday + timedelta(days=6)).where("sale_date")
    before_where, before_params = replace(f, start=monday - timedelta(days=7), end=monday - timedelta(days=1)
                                          ).where("sale_date")
    cells = src.query(f"""
        WITH now AS (SELECT region, category, sum(net_revenue)::DOUBLE AS gmv, sum(orders) AS orders
                     FROM marts.fct_sales_daily WHERE {now_where} GROUP BY 1, 2),
             before AS (SELECT region, category, sum(net_revenue)::DOUBLE AS gmv_before, sum(orders) AS orders_before
                        FROM marts.fct_sales_daily WHERE {before_where} GROUP BY 1, 2)
        SELECT coalesce(region, 'unknown') AS region, coalesce(category, 'unknown') AS category,
               coalesce(gmv, 0) AS gmv, coalesce(gmv_before, 0) AS gmv_before,
               coalesce(orders, 0)::BIGINT AS orders, coalesce(orders_before, 0)::BIGINT AS orders_before
        FROM now FULL JOIN before USING (region, category)
        ORDER BY abs(coalesce(gmv, 0) - coalesce(gmv_before, 0)) DESC LIMIT ?""", [*now_params, *before_params, n])
    return cells.with_columns((pl.col("gmv") - pl.col("gmv_before")).alias("change")).with_columns(
        pl.struct(pl.all()).map_elements(_explain, return_dtype=pl.String).alias("why"))


def _explain(cell: dict) -> str:
    direction = "rose" if cell["change"] >= 0 else "fell"
    text = f"GMV of {cell['category']} in {cell['region']} {direction} by {abs(cell['change']):,.0f}"
    if cell["orders"] and cell["orders_before"]:
        orders = cell["orders"] / cell["orders_before"] - 1
        basket = (cell["gmv"] / cell["orders"]) / (cell["gmv_before"] / cell["orders_before"]) - 1 \
            if cell["gmv_before"] else 0.0
        driver = "the number of orders" if abs(orders) >= abs(basket) else "the value per order"
        text += f": orders {orders:+.0%}, value per order {basket:+.0%}, so mostly {driver}"
    elif not cell["orders_before"]:
        text += ": no sales the week before"
    else:
        text += ": no sales this week"
    return text


def fmt(metric: str, value: float | None) -> str:
    """A metric's value as people read it: rates in percent, money and counts with thousands separators."""
    if value is None:
        return "-"
    return f"{value:.1%}" if metric in RATES else f"{value:,.2f}" if metric == "aov" else f"{value:,.0f}"


def change(metric: str, value: float | None) -> str:
    """A change as people read it: rates in points, the rest in percent."""
    if value is None:
        return "-"
    return f"{value * 100:+.1f} pts" if metric in RATES else f"{value:+.1%}"


def readable(report_frame: pl.DataFrame) -> pl.DataFrame:
    """The report with every number formatted for its kind (one table mixes counts, money and rates)."""
    return pl.DataFrame([{"Metric": r["label"], "This week": fmt(r["metric"], r["this_week"]),
                          "Week before": fmt(r["metric"], r["week_before"]),
                          "vs week before": change(r["metric"], r["vs_week_before"]),
                          "Same week last year": fmt(r["metric"], r["last_year"]),
                          "vs last year": change(r["metric"], r["vs_last_year"])}
                         for r in report_frame.iter_rows(named=True)])


def printable(report_frame: pl.DataFrame, movers_frame: pl.DataFrame, title: str) -> str:
    """The report as a self-contained HTML page for printing or mailing."""
    rows = "".join(
        f"<tr><td>{html.escape(r['label'])}</td><td>{fmt(r['metric'], r['this_week'])}</td>"
        f"<td>{fmt(r['metric'], r['week_before'])}</td><td>{change(r['metric'], r['vs_week_before'])}</td>"
        f"<td>{fmt(r['metric'], r['last_year'])}</td><td>{change(r['metric'], r['vs_last_year'])}</td></tr>"
        for r in report_frame.iter_rows(named=True))
    moves = "".join(f"<li>{html.escape(r['why'])}</li>" for r in movers_frame.iter_rows(named=True))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child{text-align:left}</style>"
            f"</head><body><h1>{html.escape(title)}</h1><table><tr><th>Metric</th><th>This week</th>"
            "<th>Week before</th><th>Change</th><th>Same week last year</th><th>Change</th></tr>"
            f"{rows}</table><h2>Biggest movers</h2><ol>{moves}</ol></body></html>")
