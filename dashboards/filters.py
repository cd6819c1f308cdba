"""The filters every page shares: a date range, channel, region and store, kept in the URL's
query string (``?start=2025-03-01&end=2025-03-31&region=east``) so a view can be bookmarked and sent.
No Streamlit here: ``app.py`` draws the widgets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

DEFAULT_DAYS = 28


def _day(value: str | None, fallback: date) -> date:
    try:
        return date.fromisoformat(value) if value else fallback
    except ValueError:  # a hand-edited URL: keep the default rather than fail the page
        return fallback


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    channel: str | None = None
    region: str | None = None
    store: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str], first: date, last: date) -> Filters:
        """From the query string; dates default to the last ``DEFAULT_DAYS`` days with data and are
        clamped to [first, last]; an end before the start is swapped."""
        end = min(max(_day(params.get("end"), last), first), last)
        start = min(max(_day(params.get("start"), max(first, end - timedelta(days=DEFAULT_DAYS - 1))), first), last)
        if end < start:
            start, end = end, start
        return cls(start, end, params.get("channel") or None, params.get("region") or None,
                   params.get("store") or None)

    def to_params(self) -> dict[str, str]:
        out = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        out.update({k: v for k, v in (("channel", self.channel), ("region", self.region), ("store", self.store)) if v})
        return out

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before."""
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def where(self, date_column: str, *, channel: str | None = "channel", region: str | None = "region",
              store: str | None = "store_id") -> tuple[str, list]:
        """A SQL condition and its parameters for a table with these columns (None: it has no such
        column, the filter does not apply)."""
        parts, params = [f"{date_column} BETWEEN ? AND ?"], [self.start, self.end]
        for column, value in ((channel, self.channel), (region, self.region), (store, self.store)):
            if column and value:
                parts.append(f"{column} = ?")
                params.append(value)
        return " AND ".join(parts), params

    def describe(self) -> str:
        parts = [f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"]
        parts += [f"{name} {v}" for name, v in (("channel", self.channel), ("region", self.region),
                                                ("store", self.store)) if v]
        return ", ".join(parts)
