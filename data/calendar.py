"""The retail calendar of the Chinese market: shopping festivals a forecast should know in advance
(618, Double 11, Chinese New Year with its run-up and its quiet holiday week)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

# Chinese New Year (Spring Festival) day, by year.
CHINESE_NEW_YEAR: dict[int, date] = {
    2010: date(2010, 2, 14), 2011: date(2011, 2, 3), 2017: date(2017, 1, 28), 2022: date(2022, 2, 1),
    2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17),
    2027: date(2027, 2, 6), 2028: date(2028, 1, 26),
}
FESTIVAL_KINDS = ("618", "double_11", "new_year_run_up", "new_year_holiday")


def festival_name(day: date) -> str | None:
    """The shopping festival a day belongs to, if any (the run-up counts)."""
    if day.month == 6 and 1 <= day.day <= 18:
        return "618"
    if day.month == 11 and 1 <= day.day <= 11:
        return "double_11"
    cny = CHINESE_NEW_YEAR.get(day.year)
    if cny and -14 <= (day - cny).days <= 6:
        return "chinese_new_year"
    return None


def festival_kind(day: date) -> str | None:
    """Like ``festival_name``, with Chinese New Year split into the run-up (busy) and the holiday (quiet)."""
    name = festival_name(day)
    if name == "chinese_new_year":
        return "new_year_run_up" if day < CHINESE_NEW_YEAR[day.year] else "new_year_holiday"
    return name


def weekly_festival_days(week_starts: list[date]) -> np.ndarray:
    """(weeks, 4): how many days of each festival kind fall in each 7-day period from ``week_starts``."""
    out = np.zeros((len(week_starts), len(FESTIVAL_KINDS)))
    for i, start in enumerate(week_starts):
        for d in range(7):
            kind = festival_kind(start + timedelta(days=d))
            if kind:
                out[i, FESTIVAL_KINDS.index(kind)] += 1
    return out
