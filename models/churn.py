"""Churn early warning: P(no purchase in the next ``horizon_days``) per customer.

Features are computed strictly before a cutoff; the label is "no purchase in
[cutoff, cutoff + horizon)". Training stacks several earlier cutoffs whose label windows end
before the evaluation cutoff, so nothing from the future leaks in. The model is LightGBM on
behaviour + BG/NBD features, with Platt (sigmoid) calibration, which keeps the ranking.

Frames in (polars): ``lines`` with customer_id, order_id, ordered_at (datetime), net_revenue,
quantity and optionally category, channel, fulfillment, coupon_code, promotion_id; optional
``sessions`` with customer_id, started_at, product_views, adds, converted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from models.clv import expected_purchases, fit_bgnbd, probability_alive, probability_no_purchase
from models.errors import NotEnoughData
from models.purchases import is_purchase, purchases

RFM_FEATURES = ["recency_days", "frequency", "monetary"]
WINDOWS = (30, 60, 90, 180, 365)


@dataclass(frozen=True)
class ChurnConfig:
    horizon_days: int = 90
    train_cutoffs: int = 4  # stacked training snapshots
    step_days: int = 30  # between training snapshots
    seed: int = 7
    # shallow, slow, heavily regularised trees: churn labels are noisy and snapshots few
    lgbm_params: dict = field(default_factory=lambda: {
        "n_estimators": 600, "learning_rate": 0.01, "num_leaves": 4, "min_child_samples": 100,
        "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.6, "reg_lambda": 5.0, "verbose": -1,
    })


def _as_datetime(d: date | datetime) -> datetime:
    return datetime.combine(d, datetime.min.time()) if type(d) is date else d


def check_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """Identified customers' lines, typed; raises a clear error when a column is missing."""
    for column in ("customer_id", "order_id", "ordered_at", "net_revenue"):
        if column not in lines.columns:
            raise ValueError(f"lines need a '{column}' column")
    return lines.filter(pl.col("customer_id").is_not_null()).with_columns(
        pl.col("net_revenue").cast(pl.Float64), pl.col("ordered_at").cast(pl.Datetime("us"))
    )


def rft_summary(lines: pl.DataFrame, cutoff: datetime) -> pl.DataFrame:
    """BG/NBD inputs per customer in days: frequency (repeat purchase days), recency, T, and the
    mean value of repeat purchase days (for Gamma-Gamma). Purchase days are days with a purchase
    (``models.purchases``: zero-value orders count, returns do not)."""
    days = (
        purchases(lines.filter(pl.col("ordered_at") < cutoff))
        .group_by("customer_id", pl.col("ordered_at").dt.date().alias("day"))
        .agg(pl.col("net_revenue").sum().alias("value"))
    )
    per = days.group_by("customer_id").agg(
        pl.col("day").min().alias("first"), pl.col("day").max().alias("last"), pl.len().alias("n"),
        pl.col("value").sort_by("day").slice(1).mean().alias("repeat_value"),
    )
    cut = cutoff.date()
    return per.select(
        "customer_id",
        frequency=(pl.col("n") - 1).cast(pl.Float64),
        recency=(pl.col("last") - pl.col("first")).dt.total_days().cast(pl.Float64),
        T=(pl.lit(cut) - pl.col("first")).dt.total_days().cast(pl.Float64),
        repeat_value=pl.col("repeat_value").fill_null(0.0),
    )


def features(lines: pl.DataFrame, cutoff: date | datetime, horizon_days: int,
             sessions: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per customer with a purchase before ``cutoff``; every feature uses data before it."""
    c = _as_datetime(cutoff)
    before = check_lines(lines).filter(pl.col("ordered_at") < c)
    if before.is_empty():
        raise NotEnoughData(f"no identified customer bought before {c.date()}",
                            "transactions with customer ids before the cutoff")
    age = (pl.lit(c) - pl.col("ordered_at")).dt.total_seconds() / 86400
    buy = is_purchase()
    orders = (
        before.group_by("customer_id", "order_id")
        .agg(pl.col("ordered_at").min(), pl.col("net_revenue").sum(),
             *([pl.col("coupon_code").is_not_null().any().alias("coupon")] if "coupon_code" in before.columns else []),
             *([pl.col("channel").first()] if "channel" in before.columns else []),
             *([(pl.col("fulfillment") == "pickup").any().alias("pickup")] if "fulfillment" in before.columns else []))
        .with_columns(age=age)
    )
    gaps = orders.filter(buy).sort("customer_id", "ordered_at").with_columns(
        gap=(pl.col("ordered_at").diff().dt.total_seconds() / 86400).over("customer_id")
    ).group_by("customer_id").agg(pl.col("gap").mean().alias("mean_gap_days"), pl.col("gap").std().alias("std_gap_days"))
    agg = [
        pl.col("age").filter(buy).min().alias("recency_days"),
        pl.col("age").filter(buy).max().alias("tenure_days"),
        buy.sum().alias("frequency"),
        pl.col("net_revenue").sum().alias("monetary"),
        pl.col("net_revenue").filter(buy).mean().alias("avg_order_value"),
        (pl.col("net_revenue") < 0).sum().alias("return_orders"),
        *[(buy & (pl.col("age") < w)).sum().alias(f"orders_{w}d") for w in WINDOWS],
        pl.col("net_revenue").filter(pl.col("age") < 90).sum().alias("revenue_90d"),
        # regularity: in how many distinct weeks / months of the recent past the customer bought
        (pl.col("age") // 7).filter(buy & (pl.col("age") < 56)).n_unique().alias("active_weeks_8w"),
        (pl.col("age") // 7).filter(buy & (pl.col("age") < 182)).n_unique().alias("active_weeks_26w"),
        (pl.col("age") // 30).filter(buy & (pl.col("age") < 365)).n_unique().alias("active_months_12m"),
        pl.col("net_revenue").filter((pl.col("age") >= 90) & (pl.col("age") < 180)).sum().alias("revenue_prev_90d"),
    ]
    if "coupon" in orders.columns:
        agg.append(pl.col("coupon").mean().alias("coupon_share"))
    if "channel" in orders.columns:
        agg += [pl.col("channel").n_unique().alias("channels"),
                pl.col("channel").is_in(["store_pos", "self_checkout"]).mean().alias("store_share")]
    if "pickup" in orders.columns:
        agg.append(pl.col("pickup").mean().alias("pickup_share"))
    feats = orders.group_by("customer_id").agg(agg).filter(pl.col("frequency") > 0)
    line_aggs = [pl.col("order_id").filter(pl.col("net_revenue") >= 0).count().alias("lines"),
                 (pl.col("quantity") < 0).sum().alias("returned_lines") if "quantity" in before.columns
                 else pl.lit(0).alias("returned_lines")]
    if "sku" in before.columns:
        line_aggs.append(pl.col("sku").n_unique().alias("distinct_skus"))
    if "category" in before.columns:
        line_aggs.append(pl.col("category").n_unique().alias("distinct_categories"))
    feats = feats.join(before.group_by("customer_id").agg(line_aggs), on="customer_id", how="left")
    feats = feats.join(gaps, on="customer_id", how="left").with_columns(
        spend_trend=(pl.col("revenue_90d") + 1) / (pl.col("revenue_prev_90d").abs() + 1),
        recency_over_gap=pl.col("recency_days") / pl.max_horizontal(pl.col("mean_gap_days"), pl.lit(1.0)),
        return_share=pl.col("returned_lines") / pl.col("lines"),
    )
    feats = feats.join(_bgnbd_features(before, c, horizon_days), on="customer_id", how="left")
    if sessions is not None and not sessions.is_empty():
        feats = feats.join(_session_features(sessions, c), on="customer_id", how="left")
    return feats.sort("customer_id")


def _bgnbd_features(before: pl.DataFrame, c: datetime, horizon_days: int) -> pl.DataFrame:
    rft = rft_summary(before, c)
    params = fit_bgnbd(rft["frequency"], rft["recency"], rft["T"])
    x, t_x, t = rft["frequency"].to_numpy(), rft["recency"].to_numpy(), rft["T"].to_numpy()
    return pl.DataFrame({
        "customer_id": rft["customer_id"],
        "bgnbd_p_alive": probability_alive(params, x, t_x, t),
        "bgnbd_expected_purchases": expected_purchases(params, horizon_days, x, t_x, t),
        "bgnbd_p_no_purchase": probability_no_purchase(params, horizon_days, x, t_x, t),
    })


def _session_features(sessions: pl.DataFrame, c: datetime) -> pl.DataFrame:
    s = sessions.filter(pl.col("customer_id").is_not_null() & (pl.col("started_at") < c)).with_columns(
        age=(pl.lit(c) - pl.col("started_at")).dt.total_seconds() / 86400)
    return s.group_by("customer_id").agg(
        pl.col("age").min().alias("days_since_session"),
        (pl.col("age") < 30).sum().alias("sessions_30d"),
        (pl.col("age") < 90).sum().alias("sessions_90d"),
        pl.col("product_views").filter(pl.col("age") < 90).sum().alias("views_90d"),
        (pl.col("adds").gt(0) & ~pl.col("converted")).filter(pl.col("age") < 90).sum().alias("abandoned_carts_90d"),
    )


def labels(lines: pl.DataFrame, cutoff: date | datetime, horizon_days: int) -> pl.DataFrame:
    """customer_id, churned: True when the customer made no purchase in [cutoff, cutoff + horizon)."""
    c = _as_datetime(cutoff)
    end = c + timedelta(days=horizon_days)
    bought = (
        purchases(check_lines(lines).filter((pl.col("ordered_at") >= c) & (pl.col("ordered_at") < end)))
        .select("customer_id").unique().with_columns(pl.lit(False).alias("churned"))
    )
    return bought


def labelled(lines: pl.DataFrame, cutoff: date | datetime, horizon_days: int,
             sessions: pl.DataFrame | None = None) -> pl.DataFrame:
    feats = features(lines, cutoff, horizon_days, sessions)
    return feats.join(labels(lines, cutoff, horizon_days), on="customer_id", how="left").with_columns(
        pl.col("churned").fill_null(True))


def feature_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("customer_id", "churned", "cutoff")]


@dataclass
class ChurnModel:
    """LightGBM and a regularised logistic regression on log-scaled features, averaged on the
    logit scale, then Platt-calibrated (which keeps the ranking); with its feature list."""

    columns: list[str]
    booster: object
    linear: object
    calibrator: object
    config: ChurnConfig

    def blend(self, frame: pl.DataFrame) -> np.ndarray:
        x = _matrix(frame, self.columns)
        return 0.5 * _logit(self.booster.predict_proba(x)[:, 1]) + 0.5 * _logit(
            self.linear.predict_proba(_signed_log(x))[:, 1])

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        return self.calibrator.predict_proba(self.blend(frame)[:, None])[:, 1]


def _matrix(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    present = [pl.col(c) if c in frame.columns else pl.lit(None).alias(c) for c in columns]
    return frame.select(present).cast(pl.Float64).fill_nan(None).to_numpy().astype(float)


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def training_frame(lines: pl.DataFrame, cutoff: date | datetime, config: ChurnConfig,
                   sessions: pl.DataFrame | None = None) -> pl.DataFrame:
    """Stacked snapshots whose label windows close by ``cutoff`` (no look-ahead)."""
    c = _as_datetime(cutoff)
    first_purchase = check_lines(lines)["ordered_at"].min()
    frames = []
    for k in range(config.train_cutoffs):
        snap = c - timedelta(days=config.horizon_days + k * config.step_days)
        if snap - timedelta(days=config.horizon_days) <= first_purchase:
            break  # keep at least one horizon of history before a snapshot
        frames.append(labelled(lines, snap, config.horizon_days, sessions).with_columns(cutoff=pl.lit(snap)))
    if not frames:
        raise NotEnoughData(f"not enough history before {c.date()} for a {config.horizon_days}-day training window",
                            "a longer transaction history (about four churn horizons)")
    return pl.concat(frames, how="diagonal_relaxed")


def _fit_parts(frame: pl.DataFrame, columns: list[str], config: ChurnConfig):
    import lightgbm as lgb
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _matrix(frame, columns), frame["churned"].cast(pl.Int8).to_numpy()
    booster = lgb.LGBMClassifier(random_state=config.seed, **config.lgbm_params).fit(x, y)
    linear = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                           LogisticRegression(C=0.3, max_iter=2000)).fit(_signed_log(x), y)
    return booster, linear


def fit(train: pl.DataFrame, config: ChurnConfig, columns: list[str] | None = None) -> ChurnModel:
    from sklearn.linear_model import LogisticRegression

    columns = columns or feature_columns(train)
    if len(np.unique(train["churned"])) < 2:
        raise NotEnoughData("training labels have one class only: widen the data window or change the horizon",
                            "a longer history in which some customers stop buying and others return")
    # calibrate on the newest snapshot with parts fitted on the older ones, then refit the parts on all
    newest = train["cutoff"].max()
    older, calib = train.filter(pl.col("cutoff") < newest), train.filter(pl.col("cutoff") == newest)
    if older.is_empty() or len(np.unique(older["churned"])) < 2 or len(np.unique(calib["churned"])) < 2:
        older = calib = train
    booster, linear = _fit_parts(older, columns, config)
    probe = ChurnModel(columns, booster, linear, None, config)
    calibrator = LogisticRegression().fit(probe.blend(calib)[:, None], calib["churned"].cast(pl.Int8).to_numpy())
    booster, linear = _fit_parts(train, columns, config)
    if calibrator.coef_[0, 0] <= 0:
        # too little data for an out-of-time calibration (it would invert the ranking): calibrate in-sample
        final = ChurnModel(columns, booster, linear, None, config)
        calibrator = LogisticRegression().fit(final.blend(train)[:, None], train["churned"].cast(pl.Int8).to_numpy())
    return ChurnModel(columns=columns, booster=booster, linear=linear, calibrator=calibrator, config=config)


@dataclass
class Backtest:
    cutoff: date
    horizon_days: int
    train_rows: int
    test_rows: int
    churn_rate: float
    metrics: dict[str, dict[str, float]]  # model name -> {roc_auc, pr_auc, brier}
    best_baseline: str
    scores: pl.DataFrame  # customer_id, churned, churn_probability (model), on the test cutoff

    def card(self) -> dict:
        return {"cutoff": self.cutoff.isoformat(), "horizon_days": self.horizon_days, "train_rows": self.train_rows,
                "test_rows": self.test_rows, "churn_rate": round(self.churn_rate, 4), "metrics": self.metrics,
                "best_baseline": self.best_baseline,
                "lift_over_best_baseline_roc_auc": round(
                    self.metrics["smartmall_churn"]["roc_auc"] - self.metrics[self.best_baseline]["roc_auc"], 4)}


def backtest(lines: pl.DataFrame, cutoff: date | datetime, config: ChurnConfig = ChurnConfig(),
             sessions: pl.DataFrame | None = None) -> tuple[Backtest, ChurnModel]:
    """Train before ``cutoff``, score customers at ``cutoff``, compare with baselines on the same split."""
    import lightgbm as lgb
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    c = _as_datetime(cutoff)
    last = check_lines(lines)["ordered_at"].max()
    if c + timedelta(days=config.horizon_days) > last + timedelta(days=1):
        raise ValueError(f"cutoff {c.date()} + {config.horizon_days} days runs past the data (last purchase "
                         f"{last.date()}): the labels would be incomplete")
    train = training_frame(lines, c, config, sessions)
    test = labelled(lines, c, config.horizon_days, sessions)
    y = test["churned"].cast(pl.Int8).to_numpy()
    if len(np.unique(y)) < 2:
        raise NotEnoughData("every test customer has the same label; no ranking to evaluate",
                            "a longer history in which some customers stop buying and others return")
    model = fit(train, config)
    scores: dict[str, np.ndarray] = {"smartmall_churn": model.predict(test)}

    def rfm(frame: pl.DataFrame) -> np.ndarray:
        return np.log1p(np.clip(_matrix(frame, RFM_FEATURES), 0, None))

    y_train = train["churned"].cast(pl.Int8).to_numpy()
    scores["baseline_recency"] = test["recency_days"].cast(pl.Float64).to_numpy()
    scores["baseline_bgnbd_p_no_purchase"] = test["bgnbd_p_no_purchase"].to_numpy()
    scores["baseline_logistic_rfm"] = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        rfm(train), y_train).predict_proba(rfm(test))[:, 1]
    scores["baseline_lightgbm_rfm"] = lgb.LGBMClassifier(random_state=config.seed, verbose=-1).fit(
        _matrix(train, RFM_FEATURES), y_train).predict_proba(_matrix(test, RFM_FEATURES))[:, 1]
    scores["reference_bgnbd_1_minus_p_alive"] = 1 - test["bgnbd_p_alive"].to_numpy()

    metrics = {}
    for name, s in scores.items():
        m = {"roc_auc": round(float(roc_auc_score(y, s)), 4), "pr_auc": round(float(average_precision_score(y, s)), 4)}
        if name in ("smartmall_churn", "baseline_bgnbd_p_no_purchase", "baseline_logistic_rfm"):
            m["brier"] = round(float(brier_score_loss(y, np.clip(s, 0, 1))), 4)
        metrics[name] = m
    best = max((n for n in metrics if n.startswith("baseline_")), key=lambda n: metrics[n]["roc_auc"])
    result = Backtest(cutoff=c.date(), horizon_days=config.horizon_days, train_rows=len(train), test_rows=len(test),
                      churn_rate=float(y.mean()), metrics=metrics, best_baseline=best,
                      scores=test.select("customer_id", "churned").with_columns(
                          churn_probability=pl.Series(scores["smartmall_churn"])))
    return result, model
