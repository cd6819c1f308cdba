"""One versioned snapshot of what the models know, published for the commerce API.

Layout under ``root`` (``$SMARTMALL_HOME/serving/published``)::

    versions/<n>/<table>.parquet   the tables of ``TABLES``; never changed once written
    versions/<n>/manifest.json     when, rows and columns per table, the checks' verdict
    CURRENT                        the live version's number, replaced in one rename

A reader resolves ``CURRENT`` and then reads that version's folder, so it sees the old snapshot or
the new one, never a mix. A new version goes live only when its checks pass (``check``): no table
that had rows is empty now, no table's rows moved by more than a share from the live version, the
columns are those of the live version, and every SKU is one the catalogue knows. A refused version
is kept, with its reasons, for a person to look at; ``promote`` makes any kept version live (a
rollback, or accepting a refused one on purpose).

Why parquet files read whole: DuckDB lets one process write the warehouse, so the API cannot read
the marts while the pipeline runs; and every lookup the API makes is by key (customer, SKU, SKU x
location) on tables of thousands to a few million rows, which the API holds in memory as arrays and
dicts once per version (``serving.recommendations``): a lookup is then microseconds, with no
database or file access on the request (``bench/serving.py`` measures both).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

# table -> the query over the warehouse's (dbt-tested) marts that gives it
TABLES: dict[str, str] = {
    "customer_recommendations": "SELECT customer_id, variant, rank, sku FROM marts.customer_recommendations",
    "similar_items": "SELECT sku, rank, similar_sku FROM marts.similar_items",
    "bought_together": "SELECT sku, rank, other_sku, confidence, lift FROM marts.frequently_bought_together",
    "popular_items": "SELECT region, category, rank, sku FROM marts.popular_items",
    "coupon_recommendations": """SELECT customer_id, p_redeem, rank, send, coupon_code, category, reason, as_of
                                 FROM marts.coupon_recommendations""",
    "member_profiles": """
        SELECT p.customer_id, coalesce(p.region, 'unknown') AS region, p.home_store_id, p.tier, p.rfm_segment,
               p.orders, CAST(p.net_revenue AS DOUBLE) AS net_revenue, p.last_order_at,
               date_diff('day', p.last_order_at::DATE, p.as_of) AS recency_days,
               p.clv_365d, p.churn_probability, p.churn_risk_band,
               w.customer_id IS NOT NULL AS winback, w.value_at_risk,
               p.browses_without_buying, p.abandons_carts, p.promotion_sensitive, p.uses_store_pickup,
               p.high_returner, p.repurchaser, p.birthday_this_month, p.category_affinity, p.preferred_channel,
               p.as_of
        FROM marts.customer_profile p LEFT JOIN marts.winback_list w USING (customer_id)""",
    "forecasts": """SELECT sku, location_id, week_start, forecast_units, lower_units, upper_units, lower_95_units,
                           upper_95_units, demand_class, model FROM marts.forecasts""",
    "replenishment": """SELECT sku, location_id, location_kind, on_hand, in_transit, committed, position,
                               reorder_point, order_up_to, suggested_quantity, action, source_id, days_of_cover,
                               reason, as_of FROM marts.replenishment_suggestions""",
}
# the marts those queries read (and the catalogue the SKUs are checked against)
MARTS_READ = ("marts.customer_recommendations", "marts.similar_items", "marts.frequently_bought_together",
              "marts.popular_items", "marts.coupon_recommendations", "marts.customer_profile", "marts.winback_list",
              "marts.forecasts", "marts.replenishment_suggestions", "marts.dim_product")
# the columns holding SKUs, per table (checked against the catalogue)
SKU_COLUMNS = {"customer_recommendations": ["sku"], "similar_items": ["sku", "similar_sku"],
               "bought_together": ["sku", "other_sku"], "popular_items": ["sku"], "forecasts": ["sku"],
               "replenishment": ["sku"]}
CURRENT = "CURRENT"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Version:
    """A published version as its manifest describes it."""

    number: int
    folder: Path
    created_at: str
    rows: dict[str, int]
    columns: dict[str, dict[str, str]]
    problems: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Outcome:
    """What ``publish`` did: the version written, whether it went live, and why not."""

    version: Version
    live: bool

    def describe(self) -> str:
        rows = sum(self.version.rows.values())
        if self.live:
            return f"version {self.version.number} is live ({rows:,} rows in {len(self.version.rows)} tables)"
        return (f"version {self.version.number} refused, the live one stays: {'; '.join(self.version.problems)} "
                f"(to serve it anyway: smartmall serving rollback {self.version.number})")


def frames_from_warehouse(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """``TABLES`` read from the marts of ``con``."""
    return {name: con.sql(sql).pl() for name, sql in TABLES.items()}


def publish(root: Path, frames: Mapping[str, pl.DataFrame], known_skus: set[str], max_row_change: float = 0.5,
            keep: int = 10) -> Outcome:
    """Write ``frames`` (every table of ``TABLES``) as the next version under ``root`` and make it
    live if it passes ``check`` against the live version. Keeps the ``keep`` newest versions (and
    always the live one)."""
    missing = set(TABLES) - set(frames)
    if missing:
        raise ValueError(f"a snapshot needs every table; missing {sorted(missing)}")
    root = Path(root)
    number = max((v.number for v in versions(root)), default=0) + 1
    staging = root / "versions" / f".{number}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in TABLES:
        frames[name].write_parquet(staging / f"{name}.parquet")
    live = current(root)
    problems = check(frames, live, known_skus, max_row_change)
    manifest = {"version": number, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "rows": {name: frames[name].height for name in TABLES},
                "columns": {name: _columns(frames[name]) for name in TABLES}, "problems": problems}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
    staging.rename(root / "versions" / str(number))  # complete before anyone can see it
    version = read_version(root / "versions" / str(number))
    if not problems:
        promote(root, number)
    _prune(root, keep)
    return Outcome(version, live=not problems)


def check(frames: Mapping[str, pl.DataFrame], live: Version | None, known_skus: set[str],
          max_row_change: float) -> list[str]:
    """Why ``frames`` must not replace ``live`` (an empty list when they may)."""
    problems = []
    for name, cols in SKU_COLUMNS.items():
        seen = pl.concat([frames[name][c].drop_nulls().cast(pl.Utf8) for c in cols]).unique()
        unknown = seen.filter(~seen.is_in(list(known_skus)))
        if len(unknown):
            problems.append(f"{name}: {len(unknown):,} SKU(s) the catalogue does not know, e.g. {unknown[0]}")
    if live is None:
        return problems
    for name in TABLES:
        rows, before = frames[name].height, live.rows.get(name, 0)
        if before and not rows:
            problems.append(f"{name} is empty (live: {before:,} rows)")
        elif before and abs(rows - before) > max_row_change * before:
            problems.append(f"{name} has {rows:,} rows, {rows / before - 1:+.0%} against the live {before:,} "
                            f"(more than {max_row_change:.0%})")
        columns = _columns(frames[name])
        if name in live.columns and columns != live.columns[name]:
            problems.append(f"{name}'s columns changed: {_drift(live.columns[name], columns)}")
    return problems


def versions(root: Path) -> list[Version]:
    """Every complete version under ``root``, oldest first."""
    folder = Path(root) / "versions"
    if not folder.exists():
        return []
    found = [read_version(p) for p in folder.iterdir() if p.name.isdigit() and (p / MANIFEST).exists()]
    return sorted(found, key=lambda v: v.number)


def read_version(folder: Path) -> Version:
    m = json.loads((folder / MANIFEST).read_text())
    return Version(m["version"], folder, m["created_at"], m["rows"], m["columns"], m["problems"])


def current_number(root: Path) -> int | None:
    """The live version's number, or None before the first publish."""
    try:
        return int((Path(root) / CURRENT).read_text())
    except FileNotFoundError:
        return None


def current(root: Path) -> Version | None:
    number = current_number(root)
    return None if number is None else read_version(Path(root) / "versions" / str(number))


def promote(root: Path, number: int) -> Version:
    """Make version ``number`` live (readers switch on their next lookup)."""
    folder = Path(root) / "versions" / str(number)
    if not (folder / MANIFEST).exists():
        known = ", ".join(str(v.number) for v in versions(root)) or "none"
        raise ValueError(f"no version {number} under {root} (kept: {known})")
    tmp = Path(root) / f".{CURRENT}.tmp"
    tmp.write_text(str(number))
    os.replace(tmp, Path(root) / CURRENT)
    return read_version(folder)


def read_table(version: Version, name: str) -> pl.DataFrame:
    return pl.read_parquet(version.folder / f"{name}.parquet")


def _columns(frame: pl.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.schema.items()}


def _drift(before: dict[str, str], now: dict[str, str]) -> str:
    parts = [f"+{c}" for c in now if c not in before] + [f"-{c}" for c in before if c not in now]
    parts += [f"{c} {before[c]} -> {now[c]}" for c in now if c in before and before[c] != now[c]]
    return ", ".join(parts)


def _prune(root: Path, keep: int) -> None:
    live = current_number(root)
    for v in versions(root)[:-keep] if keep > 0 else []:
        if v.number != live:
            shutil.rmtree(v.folder, ignore_errors=True)
