"""The live published version (``serving.published``) held in memory by a reader such as the API.

``LiveSnapshot.get()`` costs one ``stat`` of ``CURRENT`` per call; when the pointer changed (a new
publish, or a rollback) the version it names is loaded once, under a lock, and swapped in whole, so
every lookup of a request sees one version.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from serving import published
from serving.recommendations import RecommendationIndex


@dataclass(frozen=True)
class Served:
    """One version, indexed for key lookups."""

    version: int
    recommendations: RecommendationIndex  # personal lists, similar, bought together, popular
    profile_row: dict[str, int]  # customer_id -> row of ``profiles``
    profiles: pl.DataFrame  # published.TABLES["member_profiles"]
    coupon_row: dict[str, int]
    coupons: pl.DataFrame
    forecasts: pl.DataFrame  # sorted by sku, location_id, week_start
    replenishment: pl.DataFrame  # sorted by location_id, sku

    @classmethod
    def load(cls, version: published.Version) -> Served:
        t = {name: published.read_table(version, name) for name in published.TABLES}
        profiles, coupons = t["member_profiles"], t["coupon_recommendations"]
        return cls(
            version=version.number,
            recommendations=RecommendationIndex.from_frames(
                t["customer_recommendations"], t["similar_items"], t["popular_items"],
                profiles.select("customer_id", "region"), together=t["bought_together"]),
            profile_row=dict(zip(profiles["customer_id"].to_list(), range(profiles.height), strict=True)),
            profiles=profiles,
            coupon_row=dict(zip(coupons["customer_id"].to_list(), range(coupons.height), strict=True)),
            coupons=coupons,
            forecasts=t["forecasts"].sort("sku", "location_id", "week_start"),
            replenishment=t["replenishment"].sort("location_id", "sku"),
        )

    def profile(self, customer_id: str) -> dict | None:
        row = self.profile_row.get(customer_id)
        return None if row is None else self.profiles.row(row, named=True)

    def coupon(self, customer_id: str) -> dict | None:
        row = self.coupon_row.get(customer_id)
        return None if row is None else self.coupons.row(row, named=True)


class LiveSnapshot:
    """The version ``CURRENT`` names under ``root``, reloaded when it changes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._served: Served | None = None

    def get(self) -> Served | None:
        """The live version, or None before the first publish."""
        try:
            st = os.stat(self.root / published.CURRENT)
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns)
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    version = published.current(self.root)
                    if self._served is None or version.number != self._served.version:
                        self._served = Served.load(version)
                    self._stamp = stamp
        return self._served
