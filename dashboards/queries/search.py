"""Search: the top queries, those that lead nowhere (no product view, no order), and the rising ones."""

from __future__ import annotations

import polars as pl

from dashboards.filters import Filters
from dashboards.snapshot import Marts


def _where(f: Filters) -> tuple[str, list]:
    return f.where("search_date", region=None, store=None)


def top(src: Marts, f: Filters, limit: int = 25) -> pl.DataFrame:
    """query, searches, sessions, view_rate (searches followed by a product view), order_rate (sessions that ordered)."""
    where, params = _where(f)
    return src.query(f"""
        SELECT search_query AS query, sum(searches) AS searches, sum(sessions) AS sessions,
               sum(searches_with_view) / sum(searches) AS view_rate, sum(sessions_with_order) / sum(sessions) AS order_rate
        FROM marts.fct_search_daily WHERE {where} GROUP BY 1 ORDER BY searches DESC LIMIT ?""", [*params, limit])


def dead_ends(src: Marts, f: Filters, min_searches: int = 5, limit: int = 25) -> pl.DataFrame:
    """Queries searched at least ``min_searches`` times whose searches rarely led to a product view or
    an order: the catalogue or the search engine is missing something."""
    where, params = _where(f)
    return src.query(f"""
        SELECT search_query AS query, sum(searches) AS searches,
               sum(searches_with_view) / sum(searches) AS view_rate, sum(sessions_with_order) / sum(sessions) AS order_rate
        FROM marts.fct_search_daily WHERE {where} GROUP BY 1 HAVING sum(searches) >= ?
        ORDER BY view_rate, order_rate, searches DESC LIMIT ?""", [*params, min_searches, limit])


def rising(src: Marts, f: Filters, limit: int = 25) -> pl.DataFrame:
    """Queries searched more in the period than in the period before: growth, with both counts."""
    now_where, now_params = _where(f)
    before_where, before_params = _where(f.previous())
    return src.query(f"""
        WITH now AS (SELECT search_query, sum(searches) AS searches FROM marts.fct_search_daily WHERE {now_where} GROUP BY 1),
             before AS (SELECT search_query, sum(searches) AS before FROM marts.fct_search_daily WHERE {before_where} GROUP BY 1)
        SELECT search_query AS query, searches, coalesce(before, 0) AS searches_before,
               searches / greatest(coalesce(before, 0), 1) - 1 AS growth
        FROM now LEFT JOIN before USING (search_query) WHERE searches >= 3
        ORDER BY growth DESC, searches DESC LIMIT ?""", [*now_params, *before_params, limit])
