"""Member segments: a rule over the customer marts (RFM segment, tags, region, store, tier,
frequency, recency, churn risk, CLV, a category bought lately), its audience, and named,
versioned saves that the platform and the commerce API read (``<folder>/<name>.json``).

A rule is data (``SegmentRule``), turned into one parameterised SQL condition over
``marts.customer_profile``; saving a rule again under its name adds a version, so a campaign can
say exactly which audience it was sent to.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

Query = Callable[[str, list], pl.DataFrame]  # SQL with ? parameters over the marts -> frame
TAGS = ("browses_without_buying", "abandons_carts", "promotion_sensitive", "uses_store_pickup", "high_returner",
        "repurchaser", "birthday_this_month")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class SegmentRule:
    """Who is in: every condition given must hold (empty ones are not applied)."""

    rfm_segments: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # all of these behaviour tags (``TAGS``)
    regions: tuple[str, ...] = ()
    home_stores: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    min_orders: int | None = None  # lifetime orders
    max_orders: int | None = None
    max_recency_days: int | None = None  # days since the last order, at the marts' as-of date
    min_recency_days: int | None = None
    churn_bands: tuple[str, ...] = ()  # e.g. ('high',)
    min_churn_probability: float | None = None
    min_clv: float | None = None  # predicted 365-day value, currency
    bought_category: str | None = None  # bought a SKU of this category ...
    bought_within_days: int = 30  # ... in this many days before the as-of date

    def __post_init__(self) -> None:
        unknown = set(self.tags) - set(TAGS)
        if unknown:
            raise ValueError(f"unknown tag(s) {sorted(unknown)}; tags are {', '.join(TAGS)}")
        for name in ("min_orders", "max_orders", "max_recency_days", "min_recency_days", "bought_within_days"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"{name} is a whole number >= 0")
        if self.min_churn_probability is not None and not 0 <= self.min_churn_probability <= 1:
            raise ValueError("min_churn_probability is between 0 and 1")

    @classmethod
    def from_dict(cls, data: dict) -> SegmentRule:
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise ValueError(f"unknown rule field(s) {sorted(extra)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def where(self) -> tuple[str, list]:
        """The condition over ``marts.customer_profile p`` and its parameters."""
        parts, params = ["TRUE"], []

        def among(column: str, values: tuple[str, ...]) -> None:
            if values:
                parts.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)

        among("p.rfm_segment", self.rfm_segments)
        among("p.region", self.regions)
        among("p.home_store_id", self.home_stores)
        among("p.tier", self.tiers)
        among("p.churn_risk_band", self.churn_bands)
        parts.extend(f"p.{tag}" for tag in self.tags)
        recency = "date_diff('day', p.last_order_at::DATE, p.as_of)"
        for sql, value in (("coalesce(p.orders, 0) >= ?", self.min_orders), ("coalesce(p.orders, 0) <= ?", self.max_orders),
                           (f"{recency} <= ?", self.max_recency_days), (f"{recency} >= ?", self.min_recency_days),
                           ("p.churn_probability >= ?", self.min_churn_probability),
                           ("p.clv_365d >= ?", self.min_clv)):
            if value is not None:
                parts.append(sql)
                params.append(value)
        if self.bought_category:
            parts.append("""p.customer_id IN (
                SELECT l.customer_id FROM marts.fct_order_lines l JOIN marts.dim_product d USING (sku)
                WHERE d.category = ? AND NOT l.is_return
                  AND l.order_date > (SELECT max(as_of) FROM marts.customer_profile) - INTERVAL (?) DAY)""")
            params += [self.bought_category, self.bought_within_days]
        return " AND ".join(parts), params


def audience(query: Query, rule: SegmentRule) -> pl.DataFrame:
    """The members the rule selects: customer_id, region, home_store_id, tier, rfm_segment, orders,
    clv_365d, churn_probability."""
    where, params = rule.where()
    return query(f"""SELECT p.customer_id, p.region, p.home_store_id, p.tier, p.rfm_segment, p.orders,
                            p.clv_365d, p.churn_probability
                     FROM marts.customer_profile p WHERE {where} ORDER BY CASE WHEN isnan(p.clv_365d) THEN NULL ELSE p.clv_365d END DESC NULLS LAST,
                              p.customer_id""",
                 params)


def profile(members: pl.DataFrame) -> dict:
    """Who is in it: size, segment mix (share per RFM segment), average CLV, expected revenue at
    risk (sum of CLV x churn probability, currency)."""
    if members.is_empty():
        return {"members": 0, "segment_mix": {}, "avg_clv": None, "revenue_at_risk": 0.0}
    mix = members.group_by("rfm_segment").len().sort("len", descending=True)
    clv = members["clv_365d"].fill_nan(None)  # members the CLV model could not score count as unknown
    return {
        "members": members.height,
        "segment_mix": {str(r["rfm_segment"]): r["len"] / members.height for r in mix.iter_rows(named=True)},
        "avg_clv": clv.mean(),
        "revenue_at_risk": float((clv.fill_null(0) * members["churn_probability"].fill_nan(None).fill_null(0)).sum()),
    }


@dataclass
class SegmentStore:
    """Saved segments, one JSON file per name with every version of its rule."""

    folder: Path
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def _path(self, name: str) -> Path:
        if not NAME.fullmatch(name):
            raise ValueError("a segment name is 1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit")
        return Path(self.folder) / f"{name}.json"

    def save(self, name: str, rule: SegmentRule, members: int, note: str = "") -> int:
        """Save ``rule`` as the next version of ``name``; returns the version number."""
        path = self._path(name)
        saved = json.loads(path.read_text()) if path.exists() else {"name": name, "versions": []}
        version = len(saved["versions"]) + 1
        saved["versions"].append({"version": version, "rule": asdict(rule), "members": members, "note": note,
                                  "saved_at": self.clock().isoformat(timespec="seconds")})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(saved, indent=2))
        os.replace(tmp, path)
        return version

    def names(self) -> list[str]:
        return sorted(p.stem for p in Path(self.folder).glob("*.json")) if Path(self.folder).exists() else []

    def versions(self, name: str) -> list[dict]:
        path = self._path(name)
        return json.loads(path.read_text())["versions"] if path.exists() else []

    def load(self, name: str, version: int | None = None) -> SegmentRule:
        versions = self.versions(name)
        if not versions:
            raise KeyError(f"no segment named {name!r}")
        chosen = versions[-1] if version is None else next((v for v in versions if v["version"] == version), None)
        if chosen is None:
            raise KeyError(f"segment {name!r} has no version {version}")
        return SegmentRule.from_dict(chosen["rule"])
