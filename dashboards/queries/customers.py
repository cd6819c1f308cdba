"""Customers: RFM segments (size, value, movement between the last two snapshots), CLV spread,
and the members at risk worth winning back."""

from __future__ import annotations

import polars as pl

from dashboards.snapshot import Marts


def segments(src: Marts) -> pl.DataFrame:
    """segment, members, share, revenue (monetary of the last 12 months), avg_recency_days, at the latest as-of."""
    return src.query("""
        WITH latest AS (SELECT * FROM marts.customer_rfm WHERE as_of = (SELECT max(as_of) FROM marts.customer_rfm))
        SELECT segment, count(*) AS members, count(*) / sum(count(*)) OVER () AS share,
               sum(monetary)::DOUBLE AS revenue, avg(recency_days)::DOUBLE AS avg_recency_days, any_value(as_of) AS as_of
        FROM latest GROUP BY 1 ORDER BY revenue DESC""")


def movements(src: Marts) -> pl.DataFrame:
    """from_segment, to_segment, members: between the two latest as-of dates ('(new)' for members who
    had no segment before)."""
    return src.query("""
        WITH dates AS (SELECT DISTINCT as_of FROM marts.customer_rfm ORDER BY as_of DESC LIMIT 2),
             now AS (SELECT customer_id, segment FROM marts.customer_rfm WHERE as_of = (SELECT max(as_of) FROM dates)),
             before AS (SELECT customer_id, segment FROM marts.customer_rfm
                        WHERE as_of = (SELECT min(as_of) FROM dates) AND (SELECT count(*) FROM dates) = 2)
        SELECT coalesce(before.segment, '(new)') AS from_segment, now.segment AS to_segment, count(*) AS members
        FROM now LEFT JOIN before USING (customer_id) GROUP BY ALL ORDER BY members DESC""")


def clv(src: Marts) -> pl.DataFrame:
    """customer_id, clv_365d (currency), p_alive: one row per modelled member."""
    return src.query("SELECT customer_id, clv_365d, p_alive FROM marts.customer_value ORDER BY clv_365d DESC")


def winback(src: Marts, limit: int = 200) -> pl.DataFrame:
    """The win-back list: members at churn risk ranked by value at risk, with who they are."""
    return src.query("""
        SELECT w.rank, w.customer_id, p.region, p.tier, p.rfm_segment, w.churn_probability, w.clv_365d,
               w.value_at_risk, w.recency_days, w.frequency
        FROM marts.winback_list w LEFT JOIN marts.customer_profile p USING (customer_id)
        ORDER BY w.rank LIMIT ?""", [limit])
