"""Customer models: CLV anchored to the published CDNOW fits, RFM segments, churn on bad input."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.churn import ChurnConfig, backtest, features, labels
from models.clv import (
    expected_purchases,
    expected_spend,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
    probability_no_purchase,
)
from models.rfm import SEGMENTS, rfm_table, segment_of
from serving.registry import Registry

FIXTURES = Path(__file__).parent / "fixtures"


def _sig3(a: float, b: float) -> bool:
    return f"{a:.3g}" == f"{b:.3g}"


def test_bgnbd_matches_fader_hardie_lee_on_cdnow():
    d = pl.read_csv(FIXTURES / "cdnow_customers_summary.csv")
    assert len(d) == 2357
    p = fit_bgnbd(d["frequency"], d["recency"], d["T"])
    for got, published in ((p.r, 0.2426), (p.alpha, 4.4135), (p.a, 0.7929), (p.b, 2.4258)):
        assert _sig3(got, published), (got, published)


def test_gamma_gamma_matches_published_on_cdnow_repeat_buyers():
    d = pl.read_csv(FIXTURES / "cdnow_customers_summary_with_transactions.csv")
    repeat = d.filter(pl.col("x") > 0)
    assert len(repeat) == 946
    g = fit_gamma_gamma(repeat["x"], repeat["zbar"])
    for got, published in ((g.p, 6.2488), (g.q, 3.7446), (g.v, 15.4477)):
        assert _sig3(got, published), (got, published)
    # shrinkage: a big spender's expected spend lies between their mean and the population mean
    spend = expected_spend(g, np.array([1.0, 0.0]), np.array([200.0, 0.0]))
    population = g.p * g.v / (g.q - 1)
    assert population < spend[0] < 200 and spend[1] == pytest.approx(population)


def test_bgnbd_predictions_behave():
    d = pl.read_csv(FIXTURES / "cdnow_customers_summary.csv")
    p = fit_bgnbd(d["frequency"], d["recency"], d["T"])
    x, t_x, t = np.array([0.0, 2, 2, 10]), np.array([0.0, 30, 5, 38]), np.array([38.0, 38, 38, 38])
    alive = probability_alive(p, x, t_x, t)
    assert alive[0] == 1.0 and alive[1] > alive[2]  # a recent repeat buyer is more alive than a lapsed one
    e = expected_purchases(p, 52, x, t_x, t)
    assert e[3] > e[1] > e[2] and np.all(e >= 0)
    no_buy = probability_no_purchase(p, 52, x, t_x, t)
    assert np.all((no_buy > 0) & (no_buy < 1)) and no_buy[2] > no_buy[1]
    # sum of expected purchases in the 39-week holdout ~ the paper's aggregate forecast (about 1,800)
    total = expected_purchases(p, 39, d["frequency"], d["recency"], d["T"]).sum()
    assert 1500 < total < 2100
    with pytest.raises(ValueError, match="recency <= T"):
        fit_bgnbd([1, 2], [5, 50], [10, 20])


def test_segment_grid_covers_every_score_and_names_the_corners():
    names = {segment_of(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert names == set(SEGMENTS) and len(SEGMENTS) == 11
    assert segment_of(5, 5) == "Champions" and segment_of(1, 1) == "Lost" and segment_of(5, 1) == "New"
    assert segment_of(1, 5) == "Can't Lose Them" and segment_of(2, 4) == "At Risk"


def _lines(rows):
    return pl.DataFrame(rows, schema={"customer_id": pl.Utf8, "order_id": pl.Utf8, "ordered_at": pl.Datetime("us"),
                                      "net_revenue": pl.Float64, "quantity": pl.Int64}, orient="row")


def test_rfm_handles_one_purchase_returns_and_guests():
    lines = _lines([
        ("a", "o1", datetime(2025, 1, 1), 100.0, 1),
        ("a", "o2", datetime(2025, 3, 1), 50.0, 1),
        ("a", "r1", datetime(2025, 3, 5), -50.0, -1),  # a return: nets monetary, not an order
        ("b", "o3", datetime(2025, 2, 1), 20.0, 1),  # one purchase only
        (None, "o4", datetime(2025, 2, 2), 99.0, 1),  # a guest
        ("c", "r2", datetime(2025, 2, 3), -10.0, -1),  # only ever returned: not a buyer
        ("d", "o5", datetime(2025, 4, 2), 10.0, 1),  # after the as-of date
    ])
    rfm = rfm_table(lines, date(2025, 4, 1))
    assert rfm["customer_id"].to_list() == ["a", "b"]
    a = rfm.row(0, named=True)
    assert (a["frequency"], a["monetary"], a["recency_days"]) == (2, 100.0, 31)  # the return is no purchase
    assert a["r_score"] > rfm.row(1, named=True)["r_score"] and a["segment"] in SEGMENTS
    with pytest.raises(ValueError, match="no identified customer"):
        rfm_table(lines, date(2024, 1, 1))


def test_churn_rejects_cutoffs_outside_the_data_and_labels_correctly():
    rows = []
    for i in range(60):
        for k in range(1 + i % 6):
            month = 1 + ((i * 7 + k * 40) % 300) // 30
            rows.append((f"c{i}", f"o{i}-{k}", datetime(2025, month, 1 + (i + k) % 28), 10.0 + i, 1))
    lines = _lines(rows)
    lab = labels(lines, date(2025, 6, 1), 90)
    assert lab["churned"].to_list() == [False] * len(lab)  # only buyers in the window are listed
    feats = features(lines, date(2025, 6, 1), 90)
    assert feats["recency_days"].min() >= 0 and feats.filter(pl.col("customer_id").is_null()).is_empty()
    with pytest.raises(ValueError, match="runs past the data"):
        backtest(lines, date(2025, 12, 1), ChurnConfig(horizon_days=90))
    with pytest.raises(ValueError, match="no identified customer"):
        features(lines, date(2020, 1, 1), 90)


def test_registry_keeps_the_last_good_version(tmp_path):
    reg = Registry(tmp_path)
    v1 = reg.register("churn", {"metrics": {"roc_auc": 0.8}}, {"model.pkl": {"w": 1}})
    v2 = reg.register("churn", {"metrics": {"roc_auc": 0.5}}, {"model.pkl": {"w": 2}}, passed=False)
    assert (v1.version, v2.version) == ("v0001", "v0002")
    current = reg.current("churn")
    assert current.version == "v0001" and current.load() == {"w": 1}
    assert [v.card["checks_passed"] for v in reg.versions("churn")] == [True, False]


def test_expected_purchases_stay_finite_when_the_fit_makes_dropout_all_but_impossible():
    """A BG/NBD fit on few repeat buyers drove a and b to 4e14 and 5e17 (seen on the demo data):
    2F1 overflowed and 73 of 477 members got a NaN CLV. The expectation is then the NBD's."""
    from models.clv import BetaGeoParams, expected_purchases

    degenerate = BetaGeoParams(r=1.438, alpha=9.742, a=4.07e14, b=5.08e17)
    x, t_x, t = np.array([0.0, 1.0, 4.0]), np.array([0.0, 2.0, 12.0]), np.array([5.0, 5.0, 21.0])
    by_horizon = [expected_purchases(degenerate, h, x, t_x, t) for h in (90, 180, 365)]
    assert all(np.isfinite(e).all() for e in by_horizon)
    assert (by_horizon[0] < by_horizon[1]).all() and (by_horizon[1] < by_horizon[2]).all()
    nbd = 365 * (1.438 + x) / (9.742 + t)  # no dropout: posterior purchase rate x horizon
    np.testing.assert_allclose(by_horizon[2], nbd, rtol=0.01)
    # and where 2F1 is finite the closed form is used unchanged: close to the limit, below it (some dropout)
    nearly = expected_purchases(BetaGeoParams(r=1.438, alpha=9.742, a=4e6, b=5e9), 365, x, t_x, t)
    assert np.isfinite(nearly).all() and (nearly < nbd).all() and (nearly > 0.95 * nbd).all()
