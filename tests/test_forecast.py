"""Forecasting: metric definitions by hand, degenerate series, the global model's signal, and the
Complete Journey holdout against the baselines of the same run."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from data.importers.complete_journey import FULL_WEEKS, weekly_demand
from models.forecast import (
    GlobalLightGBM,
    Panel,
    bias,
    demand_class,
    ets_damped,
    holdout_backtest,
    mase,
    moving_average,
    naive,
    panel_from_long,
    rmsse,
    seasonal_naive,
    tsb,
    wape,
)


def test_metrics_match_hand_computed_values():
    insample = np.array([[1.0, 3.0, 2.0, 4.0]])  # naive in-sample MAE = (2 + 1 + 2) / 3 = 5/3
    actual = np.array([[4.0, 2.0]])
    forecast = np.array([[3.0, 4.0]])  # errors 1 and 2: MAE 1.5, MSE 2.5
    assert mase(actual, forecast, insample) == pytest.approx(1.5 / (5 / 3))
    assert rmsse(actual, forecast, insample) == pytest.approx(np.sqrt(2.5 / 3.0))  # squared diffs 4, 1, 4
    assert wape(actual, forecast) == pytest.approx(3 / 6)
    assert bias(actual, forecast) == pytest.approx((7 - 6) / 6)
    flat = np.array([[5.0, 5.0, 5.0]])  # no in-sample change: scale 1, not a division by zero
    assert mase(np.array([[6.0]]), np.array([[5.0]]), flat) == 1.0


def test_local_models_by_hand():
    h = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    assert naive(h, 2).tolist() == [[6.0, 6.0]]
    assert moving_average(h, 3, k=4).tolist() == [[4.5, 4.5, 4.5]]
    assert seasonal_naive(h, 4, m=3).tolist() == [[4.0, 5.0, 6.0, 4.0]]
    assert seasonal_naive(h, 2, m=12).tolist() == [[6.0, 6.0]]  # history shorter than a season: naive
    # TSB with alpha = beta = 0.5 on 0, 4, 0, 2: starts at the first sale (p=1, z=4); then
    # zero -> p 0.5; sale of 2 -> p 0.75, z 3; forecast 0.75 * 3
    assert tsb(np.array([[0.0, 4.0, 0.0, 2.0]]), 2, alpha=0.5, beta=0.5).tolist() == [[2.25, 2.25]]
    assert tsb(np.zeros((1, 5)), 3).tolist() == [[0.0, 0.0, 0.0]]  # never sold: zero, not NaN


def test_panel_fills_gaps_clips_returns_and_handles_degenerate_series():
    long = pl.DataFrame({
        "sku": ["A", "A", "A", "B", "C", "C"],
        "store": ["s", "s", "s", "s", "s", "s"],
        "week": [1, 3, 3, 2, 1, 2],
        "units": [5.0, 2.0, -1.0, 7.0, -3.0, 0.0],  # A has a gap in week 2 and a return in week 3
    })
    p = panel_from_long(long, ["sku", "store"], "week", "units", [1, 2, 3, 4])
    assert p.keys["sku"].to_list() == ["A", "B", "C"]
    assert p.y.tolist() == [[5, 0, 1, 0], [0, 7, 0, 0], [0, 0, 0, 0]]  # returns net, never below 0
    for model in (lambda y: naive(y, 3), lambda y: moving_average(y, 3), lambda y: tsb(y, 3), lambda y: ets_damped(y, 3)):
        f = model(p.y)
        assert f.shape == (3, 3) and np.isfinite(f).all() and (f >= 0).all()
    one = np.array([[3.0]])  # a single observation
    assert ets_damped(one, 2).tolist() == tsb(one, 2).tolist() == [[3.0, 3.0]]
    with pytest.raises(ValueError, match="NaN"):
        Panel(p.keys, p.periods, np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="periods"):
        holdout_backtest(p, 8)
    assert demand_class(np.array([[5.0, 5, 5, 5], [0, 0, 9, 0], [0, 0, 0, 0]])).tolist() == [
        "smooth", "intermittent", "no_sales"]


def test_global_model_learns_promotion_lift_and_beats_naive():
    rng = np.random.default_rng(3)
    n, t, h = 120, 70, 8
    base = rng.uniform(5, 50, size=(n, 1))
    promo = (rng.random((n, t + h)) < 0.15).astype(float)
    weekly = 1 + 0.3 * np.sin(2 * np.pi * np.arange(t + h) / 13)
    y_all = rng.poisson(base * weekly * (1 + 1.5 * promo)).astype(float)  # promotions lift demand 2.5x
    y, future = y_all[:, :t], y_all[:, t:]
    model = GlobalLightGBM(season=13).fit(y, promo[:, :t], h)
    f = model.predict(y, promo, h)
    on, off = promo[:, t:] > 0, promo[:, t:] == 0
    ratio = (f[on] / base.repeat(h, 1)[on]).mean() / (f[off] / base.repeat(h, 1)[off]).mean()
    assert 1.8 < ratio < 3.2  # it found the lift it was generated with
    assert mase(future, f, y) < 0.8 * mase(future, naive(y, h), y)
    lower, upper = model.predict(y, promo, h, quantile=0.1), model.predict(y, promo, h, quantile=0.9)
    assert (lower <= upper + 1e-9).mean() > 0.95
    assert 0.65 < ((future >= lower) & (future <= upper)).mean() < 0.95  # roughly an 80 % interval


def test_global_model_learns_the_price_response_from_a_price_plan():
    rng = np.random.default_rng(5)
    n, t, h = 150, 70, 8
    base = rng.uniform(5, 50, size=(n, 1))
    # planned prices: regular (1.0) most weeks, 10-40 % off now and then; demand elasticity -3
    price = np.where(rng.random((n, t + h)) < 0.2, rng.choice([0.6, 0.75, 0.9], size=(n, t + h)), 1.0)
    y_all = rng.poisson(base * price ** -3.0).astype(float)
    y, future = y_all[:, :t], y_all[:, t:]
    planned = GlobalLightGBM(season=13, price_plan=True).fit(y, None, h, price=price[:, :t])
    f = planned.predict(y, None, h, price=price)
    cut, full = price[:, t:] == 0.6, price[:, t:] == 1.0
    lift = (f[cut] / base.repeat(h, 1)[cut]).mean() / (f[full] / base.repeat(h, 1)[full]).mean()
    assert 2.5 < lift < 6.5  # truth 0.6 ** -3 = 4.6x
    # without the plan, the prices ahead are unknown: the model cannot see the cut coming
    blind = GlobalLightGBM(season=13).fit(y, None, h, price=price[:, :t])
    assert mase(future, f, y) < 0.8 * mase(future, blind.predict(y, None, h, price=price), y)
    # and the panel never tells which weeks sold through the price: a week without sales keeps the last price
    long = pl.DataFrame({"sku": ["a"] * 3, "week": [1, 2, 4], "units": [2.0, 1.0, 3.0], "price": [0.8, None, 0.9]})
    panel = panel_from_long(long, ["sku"], "week", "units", [1, 2, 3, 4], price="price")
    assert panel.price.tolist() == [[0.8, 0.8, 0.8, 0.9]]


def test_global_model_recovers_the_generators_promotion_lift(tmp_path):
    """A year of the synthetic retailer: weekly units per SKU x store, with the promotion plan the
    generator ran (weekly SKU deals, festival category discounts) as the known-ahead promotion flag
    and price. Forecast the last 8 weeks from the plan: the lift on promoted weeks matches the
    lift the generated sales show there, and a model without the plan sees none."""
    from datetime import date

    from data.calendar import weekly_festival_days
    from data.synthetic.generate import Scale, generate

    generate(tmp_path, Scale("promo_test", date(2024, 1, 1), 364, 2, 2, 60, 2000, 200), seed=11, dirty_rate=0)
    tx = pl.read_parquet(tmp_path / "transactions" / "*" / "*.parquet").filter(pl.col("quantity") > 0)
    week = pl.col("ordered_at").str.to_datetime().dt.truncate("1w").dt.date().alias("week")
    sales = tx.group_by("sku", "store_id", week).agg(pl.col("quantity").sum().cast(pl.Float64).alias("units"))
    products = pl.read_parquet(tmp_path / "products" / "products.parquet").select("sku", "category")
    plan = (  # the planned discount of each SKU per day, then its mean over the week
        pl.read_parquet(tmp_path / "_truth" / "promotions.parquet")
        .with_columns(day=pl.date_ranges("starts_on", "ends_on")).explode("day")
        .join(products, on="category", suffix="_in_category")
        .with_columns(sku=pl.coalesce("sku", "sku_in_category"))
        .group_by("sku", "day").agg(pl.col("discount_pct").max())
        .group_by("sku", pl.col("day").dt.truncate("1w").alias("week")).agg((pl.col("discount_pct").sum() / 7).alias("off"))
    )
    weeks = sorted(sales["week"].unique().to_list())[1:-1]  # full weeks only
    top = (sales.group_by("sku", "store_id").agg(pl.col("units").sum())
           .sort("units", "sku", "store_id", descending=True).head(200))
    long = (sales.join(top.select("sku", "store_id"), on=["sku", "store_id"])
            .join(top.select("sku", "store_id").join(pl.DataFrame({"week": weeks}), how="cross"),
                  on=["sku", "store_id", "week"], how="full", coalesce=True)
            .join(plan, on=["sku", "week"], how="left")
            .with_columns(promo=(pl.col("off").fill_null(0) > 0.05).cast(pl.Int8), price=1 - pl.col("off").fill_null(0)))
    panel = panel_from_long(long, ["sku", "store_id"], "week", "units", weeks, promo="promo", price="price")
    h, t = 8, len(weeks) - 8
    y, actual = panel.y[:, :t], panel.y[:, t:]
    calendar = weekly_festival_days(weeks)  # festivals come with their own surge: known ahead too
    model = GlobalLightGBM(price_plan=True).fit(y, panel.promo[:, :t], h, price=panel.price[:, :t], calendar=calendar)
    forecast = model.predict(y, panel.promo, h, price=panel.price, calendar=calendar)
    blind = GlobalLightGBM().fit(y, None, h, calendar=calendar).predict(y, None, h, calendar=calendar)
    level = y[:, -13:].mean(axis=1, keepdims=True) + 1e-9
    on = panel.promo[:, t:] > 0
    assert on.sum() >= 30 and (~on).sum() >= 300

    def lift(values):
        scaled = values / level
        return scaled[on].mean() / scaled[~on].mean()

    assert lift(actual) > 1.3  # the generated sales do respond to the plan
    assert abs(lift(forecast) / lift(actual) - 1) < 0.35
    assert lift(blind) < 1 + 0.5 * (lift(actual) - 1)  # without the plan the lift is not foreseen


def test_complete_journey_holdout_beats_the_baselines_of_the_same_run():
    long = weekly_demand(150)
    weeks = list(range(FULL_WEEKS[0], FULL_WEEKS[1] + 1))
    panel = panel_from_long(long, ["sku", "store_id"], "week", "units", weeks, promo="promo", price="price")
    assert panel.y.shape == (150, 51) and panel.promo.sum() > 0
    result = holdout_backtest(panel, 8)
    assert set(result.metrics) >= {"baseline_naive", "baseline_moving_average_4", "baseline_ets_damped",
                                   "baseline_lightgbm_plain", "smartmall_lightgbm"}
    assert result.card()["mase_vs_best_baseline"] < 0.95
    for forecast in result.forecasts.values():
        assert np.isfinite(forecast).all() and (forecast >= 0).all()


def test_global_model_recovers_the_generators_festival_calendar():
    """Series drawn from the synthetic generator's own demand calendar (weekday, yearly, 618, 11.11,
    Chinese New Year run-up and holiday): with the festival calendar as a known-ahead input, the
    forecast of the 2026 New Year weeks moves the way the generator's factors do."""
    from datetime import date, timedelta

    from data.calendar import weekly_festival_days
    from data.synthetic.calendar import demand_factor

    rng = np.random.default_rng(5)
    start, weeks, h = date(2024, 1, 1), 104, 8
    starts = [start + timedelta(weeks=k) for k in range(weeks + h)]
    truth = np.array([np.mean([demand_factor(s + timedelta(days=d)) for d in range(7)]) for s in starts])
    base = rng.uniform(5, 60, size=(150, 1))
    y = rng.poisson(base * truth[:weeks] * 7).astype(float)
    calendar = weekly_festival_days(starts)
    model = GlobalLightGBM().fit(y, None, h, calendar=calendar)
    forecast = model.predict(y, None, h, calendar=calendar).sum(axis=0)
    future = starts[weeks:]  # 2025-12-29 .. 2026-02-16; New Year 2026-02-17
    january = [i for i, s in enumerate(future) if s.month == 1 and s.day >= 5]
    run_up = [i for i, s in enumerate(future) if s in (date(2026, 2, 2), date(2026, 2, 9))]
    holiday = future.index(date(2026, 2, 16))
    true_ratio = truth[weeks:][run_up].mean() / truth[weeks:][january].mean()
    got_ratio = forecast[run_up].mean() / forecast[january].mean()
    assert true_ratio > 1.3 and got_ratio > 1 + 0.5 * (true_ratio - 1)  # at least half the run-up lift
    true_quiet = truth[weeks:][holiday] / truth[weeks:][january].mean()
    got_quiet = forecast[holiday] / forecast[january].mean()
    assert true_quiet < 0.85 and abs(got_quiet - true_quiet) < 0.15  # the quiet holiday week
