"""Split-conformal intervals (models/intervals.py): nominal coverage when the errors do not shift,
intervals that widen past the backtest's horizon, never below zero or the point forecast."""

from __future__ import annotations

import numpy as np

from models.intervals import calibrate, coverage


def test_coverage_is_nominal_on_exchangeable_errors():
    rng = np.random.default_rng(3)
    newest, older = rng.standard_t(4, size=(2000, 6)), rng.standard_t(4, size=(2000, 6))
    cover = coverage([newest, older])
    assert cover["out_of_time"]
    assert abs(cover["coverage_80"] - 0.80) < 0.02 and abs(cover["coverage_95"] - 0.95) < 0.01


def test_rolling_origins_are_each_scored_against_the_older_ones():
    rng = np.random.default_rng(6)
    cover = coverage([rng.normal(0, 1.0, (800, 5)) for _ in range(4)])
    assert cover["origins_scored"] == 3
    assert abs(cover["coverage_80"] - 0.80) < 0.03 and abs(cover["coverage_95"] - 0.95) < 0.02


def test_ties_at_the_forecast_split_in_the_randomized_coverage():
    """Slow items: 90 % of the weeks sell what was forecast (zero), the rest scatter. Any interval that
    holds the forecast covers at least 90 %; the randomized figure is nominal, and says what share tied."""
    rng = np.random.default_rng(8)

    def origin() -> np.ndarray:
        errors = rng.normal(0, 1.0, (3000, 4))
        errors[rng.random((3000, 4)) < 0.9] = 0.0
        return errors

    cover = coverage([origin(), origin(), origin()])
    assert cover["coverage_80"] > 0.89  # nominal 0.80: the interval is [0, 0] and holds every tie
    assert abs(cover["coverage_80_randomized"] - 0.80) < 0.02
    assert abs(cover["coverage_95_randomized"] - 0.95) < 0.02
    assert abs(cover["at_forecast_share"] - 0.9) < 0.01


def test_randomized_coverage_equals_plain_coverage_without_ties():
    rng = np.random.default_rng(9)
    cover = coverage([rng.normal(0, 1.0, (2000, 3)), rng.normal(0, 1.0, (2000, 3))])
    assert abs(cover["coverage_80_randomized"] - cover["coverage_80"]) < 0.01
    assert cover["at_forecast_share"] == 0.0


def test_a_shift_between_origins_shows_in_the_coverage():
    rng = np.random.default_rng(4)
    cover = coverage([rng.normal(0, 2.0, (2000, 4)), rng.normal(0, 1.0, (2000, 4))])
    assert cover["coverage_80"] < 0.6  # calibrated on calmer weeks than the newest: it says so
    assert cover["coverage_80_randomized"] < 0.6


def test_intervals_widen_beyond_the_backtest_and_respect_the_floor():
    rng = np.random.default_rng(5)
    offsets = calibrate([rng.normal(0, 1.0, (500, 4))])
    point = np.full((3, 9), 2.0)
    lo, hi = offsets.interval(point, np.array([1.0, 10.0, 0.5]), 0.8)
    assert (lo >= 0).all() and (hi >= point).all() and (lo <= point).all()
    width = hi - lo
    assert (width[:, 8] > width[:, 3]).all()  # step 9 of a 4-step backtest is wider than step 4
    assert width[1, 0] > width[0, 0] > width[2, 0]  # scales with the series' naive error
