"""Time in the commerce API is naive UTC (the same on PostgreSQL and SQLite)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

_shift = timedelta(0)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None) + _shift


@contextlib.contextmanager
def replaying_at(moment: datetime) -> Iterator[None]:
    """Run the API in this process as if ``moment`` were now, the clock ticking on from it: for a
    simulation replaying history (the demo's campaign at the end of the synthetic retailer's data,
    so the warehouse sees it on its own timeline). Every request of the process sees it; never in a
    served API."""
    global _shift
    before = _shift
    _shift = as_utc(moment) - datetime.now(UTC).replace(tzinfo=None)
    try:
        yield
    finally:
        _shift = before


def as_utc(moment: datetime) -> datetime:
    """An aware datetime converted to naive UTC; a naive one is taken as UTC already.

    A moment within a day of the calendar's ends (0001-01-01 +00:01) has no UTC datetime: it is
    clamped to the first or last one instead of failing (found by the schemathesis fuzz test)."""
    if not moment.tzinfo:
        return moment
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        return datetime.min if moment.year == datetime.min.year else datetime.max


def iso(moment: datetime) -> str:
    """How the API writes a time: RFC 3339 in UTC (``2026-12-05T03:34:05.544204Z``)."""
    return as_utc(moment).isoformat() + "Z"
