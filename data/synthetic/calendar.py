"""Demand calendar: weekday and yearly seasonality, festival peaks (618, 11.11, Chinese New Year)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

# Chinese New Year (Spring Festival) day, by year.
CHINESE_NEW_YEAR: dict[int, date] = {
    2010: date(2010, 2, 14), 2011: date(2011, 2, 3), 2017: date(2017, 1, 28), 2022: date(2022, 2, 1),
    2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17),
    2027: date(2027, 2, 6), 2028: date(2028, 1, 26),
}
WEEKDAY_FACTOR = np.array([0.90, 0.88, 0.92, 0.97, 1.08, 1.30, 1.25])  # Monday..Sunday


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


def festival_factor(day: date) -> float:
    """Demand multiplier of festival peaks: ramps up to the day itself."""
    if day.month == 6 and 1 <= day.day <= 18:
        return 1.25 + (1.6 if day.day == 18 else 0.04 * day.day)
    if day.month == 11 and 1 <= day.day <= 11:
        return 1.4 + (2.6 if day.day == 11 else 0.06 * day.day)
    cny = CHINESE_NEW_YEAR.get(day.year)
    if cny:
        offset = (day - cny).days
        if -14 <= offset < 0:
            return 1.5  # new-year shopping
        if 0 <= offset <= 6:
            return 0.65  # the holiday week itself is quiet
    return 1.0


def yearly_factor(day: date) -> float:
    """Smooth yearly cycle: low in late winter, high into the autumn / year end."""
    doy = day.timetuple().tm_yday
    return float(1.0 + 0.12 * np.sin(2 * np.pi * (doy - 170) / 365.25) + (0.15 if day.month == 12 else 0.0))


def demand_factor(day: date) -> float:
    """Total multiplier of base demand for one day."""
    return float(WEEKDAY_FACTOR[day.weekday()] * yearly_factor(day) * festival_factor(day))


def days(start: date, n: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]
