"""Segment picker: the values a rule can use, and the audience of a rule (``serving.segments``)."""

from __future__ import annotations

import polars as pl

from dashboards.snapshot import Marts
from serving.segments import SegmentRule, audience


def options(src: Marts) -> dict[str, list[str]]:
    def distinct(column: str) -> list[str]:
        return src.query(f"SELECT DISTINCT {column} AS v FROM marts.customer_profile WHERE {column} IS NOT NULL "
                         "ORDER BY 1")["v"].to_list()

    return {"rfm_segments": distinct("rfm_segment"), "regions": distinct("region"),
            "home_stores": distinct("home_store_id"), "tiers": distinct("tier"),
            "churn_bands": distinct("churn_risk_band"),
            "categories": src.query("SELECT DISTINCT category AS v FROM marts.dim_product WHERE category IS NOT NULL "
                                    "ORDER BY 1")["v"].to_list()}


def members(src: Marts, rule: SegmentRule) -> pl.DataFrame:
    return audience(src.query, rule)
