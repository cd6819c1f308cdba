"""RFM: recency, frequency and monetary value per customer as of a date, quintile scores and the
named segments marketers use.

Input is order lines (one row per line, returns as negative quantities/revenue); guests (no
customer id) are left out, returns count against monetary value but not frequency.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import polars as pl

from models.errors import NotEnoughData
from models.purchases import orders

# (R score, F score) patterns -> segment, first match wins. Lost is the bottom corner of
# Hibernating; the rest follow the common RFM segment grid.
SEGMENT_RULES: tuple[tuple[str, str], ...] = (
    (r"11", "Lost"),
    (r"[1-2][1-2]", "Hibernating"),
    (r"[1-2][3-4]", "At Risk"),
    (r"[1-2]5", "Can't Lose Them"),
    (r"3[1-2]", "About to Sleep"),
    (r"33", "Need Attention"),
    (r"[3-4][4-5]", "Loyal"),
    (r"41", "Promising"),
    (r"51", "New"),
    (r"[4-5][2-3]", "Potential Loyalist"),
    (r"5[4-5]", "Champions"),
)
SEGMENTS: tuple[str, ...] = tuple(dict.fromkeys(name for _, name in SEGMENT_RULES))


def segment_of(r_score: int, f_score: int) -> str:
    key = f"{r_score}{f_score}"
    for pattern, name in SEGMENT_RULES:
        if re.fullmatch(pattern, key):
            return name
    raise ValueError(f"no segment for R={r_score} F={f_score}")


SEGMENT_TABLE = pl.DataFrame(
    [{"r_score": r, "f_score": f, "segment": segment_of(r, f)} for r in range(1, 6) for f in range(1, 6)],
    schema={"r_score": pl.Int8, "f_score": pl.Int8, "segment": pl.Utf8},
)


def rfm_table(lines: pl.DataFrame, as_of: date | datetime) -> pl.DataFrame:
    """RFM per customer from lines strictly before ``as_of``.

    ``lines`` needs customer_id, order_id, ordered_at (datetime), net_revenue. Returns one row per
    customer who bought before ``as_of``: recency_days (days since the last purchase, >= 0),
    frequency (purchases as ``models.purchases`` defines them: zero-value orders count, returns do
    not), monetary (net revenue, returns netted), r/f/m scores
    1..5 (5 best) and segment.
    """
    for column in ("customer_id", "order_id", "ordered_at", "net_revenue"):
        if column not in lines.columns:
            raise ValueError(f"rfm_table: lines need a '{column}' column")
    cutoff = datetime.combine(as_of, datetime.min.time()) if type(as_of) is date else as_of
    before = lines.filter(pl.col("customer_id").is_not_null() & (pl.col("ordered_at") < cutoff))
    if before.is_empty():
        raise NotEnoughData(f"rfm_table: no identified customer bought before {as_of}",
                            "transactions with customer ids")
    per = (
        orders(before).group_by("customer_id")
        .agg(
            pl.col("ordered_at").filter(pl.col("purchase")).max().alias("last_purchase_at"),
            pl.col("purchase").sum().cast(pl.UInt32).alias("frequency"),
            pl.col("net_revenue").sum().alias("monetary"),
        )
        .filter(pl.col("frequency") > 0)  # customers who only returned something are not buyers
    )
    per = per.with_columns(
        recency_days=((pl.lit(cutoff) - pl.col("last_purchase_at")).dt.total_seconds() / 86400).floor().cast(pl.Int32),
    )
    return _score(per).with_columns(as_of=pl.lit(cutoff.date())).sort("customer_id")


def _quintile(expr: pl.Expr, n: pl.Expr) -> pl.Expr:
    """1..5 by rank (ties share the lower rank), so equal values always get the same score."""
    return ((expr.rank("min") - 1) * 5 / n).floor().cast(pl.Int8) + 1


def _score(per: pl.DataFrame) -> pl.DataFrame:
    n = pl.len()
    scored = per.with_columns(
        r_score=_quintile(-pl.col("recency_days"), n),
        f_score=_quintile(pl.col("frequency"), n),
        m_score=_quintile(pl.col("monetary"), n),
    )
    return scored.join(SEGMENT_TABLE, on=["r_score", "f_score"], how="left")
