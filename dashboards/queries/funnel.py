"""Funnel and paths: sessions through view -> cart -> checkout -> payment -> order, per channel or
device; time to convert; the commonest paths to an order and to an abandoned cart."""

from __future__ import annotations

from typing import Literal

import polars as pl

from dashboards.filters import Filters
from dashboards.snapshot import Marts

STEPS = ("session", "product viewed", "added to cart", "checkout started", "payment entered", "order completed")
By = Literal["channel", "device"]


def steps(src: Marts, f: Filters, by: By = "channel") -> pl.DataFrame:
    """key, step (0-5), step_name, sessions reaching it, share of the key's sessions, and of the step before."""
    assert by in ("channel", "device")
    where, params = f.where("session_date", region=None, store=None)
    frame = src.query(f"""
        WITH s AS (SELECT coalesce({by}, 'unknown') AS key, funnel_depth FROM marts.fct_sessions WHERE {where}),
             steps AS (SELECT unnest(range(6)) AS step)
        SELECT key, step, count(*) FILTER (WHERE funnel_depth >= step) AS sessions
        FROM s, steps GROUP BY ALL ORDER BY key, step""", params)
    if frame.is_empty():
        return frame
    return frame.with_columns(
        pl.col("step").map_elements(STEPS.__getitem__, return_dtype=pl.String).alias("step_name"),
        (pl.col("sessions") / pl.col("sessions").first().over("key")).alias("share_of_sessions"),
        (pl.col("sessions") / pl.col("sessions").shift(1).over("key")).alias("from_previous_step"))


def time_to_convert(src: Marts, f: Filters) -> pl.DataFrame:
    """Per channel: converted sessions and their median, 75th and 90th percentile length in minutes."""
    where, params = f.where("session_date", region=None, store=None)
    return src.query(f"""
        SELECT channel, count(*) AS orders, median(duration_seconds) / 60 AS median_minutes,
               quantile_cont(duration_seconds, 0.75) / 60 AS p75_minutes,
               quantile_cont(duration_seconds, 0.9) / 60 AS p90_minutes
        FROM marts.fct_sessions WHERE converted AND {where} GROUP BY 1 ORDER BY orders DESC""", params)


def paths(src: Marts, f: Filters, outcome: Literal["order", "abandoned"], limit: int = 10) -> pl.DataFrame:
    """The commonest paths through search and the funnel's steps (other events left out, repeats of
    one step in a row count once, first 8 steps) of the sessions that ended in an order, or that
    added to the cart and did not buy."""
    where, params = f.where("s.session_date", channel="s.channel", region=None, store=None)
    condition = "s.converted" if outcome == "order" else "s.abandoned_cart"
    return src.query(f"""
        WITH e AS (SELECT e.session_id, e.event, e.occurred_at,
                          lag(e.event) OVER (PARTITION BY e.session_id ORDER BY e.occurred_at, e.event_id) AS previous
                   FROM marts.fct_events e JOIN marts.fct_sessions s USING (session_id)
                   WHERE {condition} AND (e.funnel_step IS NOT NULL OR e.event = 'Products Searched') AND {where}),
             p AS (SELECT session_id, list(event ORDER BY occurred_at)[1:8] AS steps
                   FROM e WHERE previous IS DISTINCT FROM event GROUP BY 1)
        SELECT array_to_string(steps, ' > ') AS path, count(*) AS sessions,
               count(*) / sum(count(*)) OVER () AS share
        FROM p GROUP BY 1 ORDER BY sessions DESC, path LIMIT ?""", [*params, limit])
