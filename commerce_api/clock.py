"""Time in the commerce API is naive UTC (the same on PostgreSQL and SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc(moment: datetime) -> datetime:
    """An aware datetime converted to naive UTC; a naive one is taken as UTC already."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
