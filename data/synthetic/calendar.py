"""Demand calendar: weekday and yearly seasonality, festival peaks (618, 11.11, Chinese New Year)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from data.calendar import CHINESE_NEW_YEAR, festival_name  # noqa: F401 - re-exported for the generator

WEEKDAY_FACTOR = np.array([0.90, 0.88, 0.92, 0.97, 1.08, 1.30, 1.25])  # Monday..Sunday


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
