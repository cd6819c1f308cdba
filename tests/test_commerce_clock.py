"""Naive-UTC conversion at the calendar's ends (a fuzzed flash-sale window once made it a 500)."""

from datetime import datetime, timedelta, timezone

from commerce_api.clock import as_utc


def test_as_utc_converts_and_clamps_at_the_ends_of_the_calendar():
    assert as_utc(datetime(2025, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))) == datetime(2025, 1, 1)
    assert as_utc(datetime(2025, 1, 1, 8)) == datetime(2025, 1, 1, 8)
    assert as_utc(datetime(1, 1, 1, tzinfo=timezone(timedelta(minutes=1)))) == datetime.min
    assert as_utc(datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(minutes=-1)))) == datetime.max
