"""The customer block: RFM snapshots, lifetime value and churn risk.

Reads the marts, calls the plain model functions of ``models/``, writes the model outputs (which
dbt publishes as marts, with the win-back list, tags and profile built over them) and records
every training run in the model registry. The Dagster assets in ``pipelines.assets.customer``
wrap these functions; the CLI's ``evaluate`` prints the registry cards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np
import polars as pl

from models.churn import ChurnConfig, backtest, features, fit, rft_summary, training_frame
from models.clv import expected_purchases, expected_spend, fit_bgnbd, fit_gamma_gamma, probability_alive
from models.errors import NotEnoughData
from models.purchases import purchases
from models.rfm import rfm_table
from pipelines.marts import write_empty, write_mart
from serving.registry import Registry

MIN_CHURN_HORIZON_DAYS = 14
MIN_CLV_CUSTOMERS = 10
CLV_HORIZONS = (90, 180, 365)


@dataclass(frozen=True)
class CustomerData:
    lines: pl.DataFrame
    sessions: pl.DataFrame | None
    as_of: datetime  # the day after the last order: "today" for scoring


def load(con: duckdb.DuckDBPyConnection) -> CustomerData:
    """Identified customers' order lines (with category) and sessions from the marts."""
    lines = con.sql(
        """SELECT l.customer_id, l.order_id, l.ordered_at, CAST(l.net_revenue AS DOUBLE) AS net_revenue, l.quantity,
                  l.sku, p.category, l.channel, l.fulfillment, l.coupon_code, l.promotion_id
           FROM marts.fct_order_lines l LEFT JOIN marts.dim_product p USING (sku)
           WHERE l.customer_id IS NOT NULL"""
    ).pl()
    if lines.is_empty():
        raise NotEnoughData("no transaction carries a customer id: no customer to model",
                            "customer ids on the transactions (customer_id)")
    sessions = con.sql(
        "SELECT customer_id, started_at, product_views, adds, converted FROM marts.fct_sessions "
        "WHERE customer_id IS NOT NULL"
    ).pl()
    last = lines["ordered_at"].max()
    as_of = datetime.combine(last.date() + timedelta(days=1), datetime.min.time())
    return CustomerData(lines, sessions if not sessions.is_empty() else None, as_of)


def build_rfm(con: duckdb.DuckDBPyConnection, data: CustomerData, snapshots: int) -> dict:
    """customer_rfm: one row per customer and monthly as-of date (the last ``snapshots`` months), so
    segment moves can be seen."""
    first = data.lines["ordered_at"].min().date()
    today = data.as_of.date()
    dates, month = [today], today.replace(day=1)
    while len(dates) < snapshots and month > first:
        if month < today:
            dates.append(month)
        month = (month - timedelta(days=1)).replace(day=1)
    tables = [rfm_table(data.lines, d) for d in dates]
    rfm = pl.concat(tables).sort("as_of", "customer_id")
    write_mart(con, "customer_rfm", rfm)
    latest = rfm.filter(pl.col("as_of") == rfm["as_of"].max())
    return {"snapshots": len(tables), "customers": len(latest),
            "segments": dict(latest.group_by("segment").len().sort("len", descending=True).iter_rows())}


def build_value(con: duckdb.DuckDBPyConnection, data: CustomerData, registry: Registry, holdout_days: int = 90) -> dict:
    """customer_value from BG/NBD + Gamma-Gamma, after a time-split check of the fit."""
    # backtest: fit before (as_of - holdout), predict purchases in the holdout, compare with what happened
    cut = data.as_of - timedelta(days=holdout_days)
    check = rft_summary(data.lines, cut)
    if check.height < MIN_CLV_CUSTOMERS:
        raise NotEnoughData(f"{check.height} customers bought before the {holdout_days}-day holdout; "
                            f"{MIN_CLV_CUSTOMERS} are needed to fit and check BG/NBD",
                            f"more than {holdout_days} days of member transactions")
    params = fit_bgnbd(check["frequency"], check["recency"], check["T"])
    predicted = expected_purchases(params, holdout_days, check["frequency"], check["recency"], check["T"])
    actual = (
        purchases(data.lines.filter(pl.col("ordered_at") >= cut))
        .group_by("customer_id").agg(pl.col("ordered_at").dt.date().n_unique().alias("actual"))
    )
    joined = check.select("customer_id", "frequency", "T").with_columns(predicted=pl.Series(predicted)).join(
        actual, on="customer_id", how="left").with_columns(pl.col("actual").fill_null(0))
    # baseline: each customer keeps their past purchase rate
    naive = (joined["frequency"] + 1) / joined["T"].clip(1, None) * holdout_days
    mae = float((joined["predicted"] - joined["actual"]).abs().mean())
    mae_naive = float((naive - joined["actual"]).abs().mean())
    metrics = {"holdout_days": holdout_days, "mae_purchases": round(mae, 4), "baseline_rate_mae": round(mae_naive, 4),
               "predicted_total": round(float(joined["predicted"].sum()), 1), "actual_total": int(joined["actual"].sum())}

    rft = rft_summary(data.lines, data.as_of)
    bg = fit_bgnbd(rft["frequency"], rft["recency"], rft["T"])
    gg = fit_gamma_gamma(rft["frequency"], rft["repeat_value"])
    x, t_x, t = rft["frequency"].to_numpy(), rft["recency"].to_numpy(), rft["T"].to_numpy()
    spend = expected_spend(gg, x, rft["repeat_value"].to_numpy())
    value = rft.select("customer_id", "frequency", "recency", "T").with_columns(
        p_alive=pl.Series(probability_alive(bg, x, t_x, t)),
        **{f"expected_purchases_{h}d": pl.Series(expected_purchases(bg, h, x, t_x, t)) for h in CLV_HORIZONS},
        expected_spend=pl.Series(spend),
    ).with_columns(
        **{f"clv_{h}d": pl.col(f"expected_purchases_{h}d") * pl.col("expected_spend") for h in CLV_HORIZONS},
        as_of=pl.lit(data.as_of.date()),
    )
    passed = bool(np.isfinite(value["clv_365d"].to_numpy()).all()) and mae <= mae_naive
    registry.register("clv", {
        "data_window": [str(data.lines["ordered_at"].min()), str(data.as_of)],
        "parameters": {"bgnbd": bg.as_dict(), "gamma_gamma": gg.as_dict(), "time_unit": "day"},
        "backtest": metrics, "baseline": "past purchase rate continues",
    }, {"model.pkl": {"bgnbd": bg, "gamma_gamma": gg}}, passed=passed)
    write_mart(con, "customer_value", value)
    return {"customers": len(value), **metrics, "checks_passed": passed}


def build_churn(con: duckdb.DuckDBPyConnection, data: CustomerData, registry: Registry,
                config: ChurnConfig | None = None) -> dict:
    """Backtest at (as_of - horizon), then train on everything and score today's customers.

    customer_churn_risk: probability and risk band (dbt ranks the win-back list from it)."""
    config = config or ChurnConfig()
    span = (data.as_of - data.lines["ordered_at"].min()).days
    note = None
    if span < 4 * config.horizon_days:  # a backtest needs ~4 horizons: history, train label, test label
        shorter = max(MIN_CHURN_HORIZON_DAYS, span // 4)
        note = f"data spans {span} days: horizon shortened from {config.horizon_days} to {shorter} days"
        config = ChurnConfig(**{**config.__dict__, "horizon_days": shorter})
    test_cut = data.as_of - timedelta(days=config.horizon_days)
    result, _ = backtest(data.lines, test_cut, config, data.sessions)
    model = fit(training_frame(data.lines, data.as_of, config, data.sessions), config)
    now = features(data.lines, data.as_of, config.horizon_days, data.sessions)
    card = result.card()
    passed = card["metrics"]["smartmall_churn"]["roc_auc"] >= card["metrics"][card["best_baseline"]]["roc_auc"]
    # serve the new model only if it beat the baselines; else the last good version; else BG/NBD
    current = registry.current("churn")
    if passed:
        prob, scored_with = model.predict(now), "new model"
    elif current is not None and current.card.get("parameters", {}).get("horizon_days") == config.horizon_days:
        prob, scored_with = current.load().predict(now), f"last good version {current.version}"
    else:
        prob, scored_with = now["bgnbd_p_no_purchase"].to_numpy(), "BG/NBD P(no purchase) (no model passed yet)"
    risk = now.select("customer_id", "recency_days", "frequency", "monetary").with_columns(
        churn_probability=pl.Series(prob),
        risk_band=pl.when(pl.Series(prob) >= 0.7).then(pl.lit("high"))
        .when(pl.Series(prob) >= 0.4).then(pl.lit("medium")).otherwise(pl.lit("low")),
        horizon_days=pl.lit(config.horizon_days), as_of=pl.lit(data.as_of.date()), scored_with=pl.lit(scored_with),
    )
    registry.register("churn", {
        "data_window": [str(data.lines["ordered_at"].min()), str(data.as_of)],
        "parameters": {"horizon_days": config.horizon_days, "train_cutoffs": config.train_cutoffs,
                       "step_days": config.step_days, "lightgbm": config.lgbm_params, "features": model.columns},
        "backtest": card, "note": note, "scored_with": scored_with,
    }, {"model.pkl": model}, passed=passed)
    write_mart(con, "customer_churn_risk", risk)
    return {"customers_scored": len(risk), "backtest_roc_auc": card["metrics"]["smartmall_churn"]["roc_auc"],
            "best_baseline": card["best_baseline"],
            "best_baseline_roc_auc": card["metrics"][card["best_baseline"]]["roc_auc"], "checks_passed": passed,
            "horizon_days": config.horizon_days, "note": note, "scored_with": scored_with}


def _skipped(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...], exc: NotEnoughData) -> dict:
    write_empty(con, tables)
    return exc.as_skip()


def build_value_or_skip(con, data: CustomerData, registry: Registry) -> dict:
    try:
        return build_value(con, data, registry)
    except NotEnoughData as exc:  # too few customers or repeat buyers to fit
        return _skipped(con, ("customer_value",), exc)


def build_churn_or_skip(con, data: CustomerData, registry: Registry, config: ChurnConfig | None = None) -> dict:
    try:
        return build_churn(con, data, registry, config)
    except NotEnoughData as exc:  # too little history, or one label class only
        return _skipped(con, ("customer_churn_risk",), exc)


def run_customer_block(con: duckdb.DuckDBPyConnection, registry: Registry,
                       config: ChurnConfig | None = None, *, rfm_snapshots: int) -> dict[str, dict]:
    """Every customer model output, with what each model reported (or why it was skipped), by
    name. Without any identified customer the outputs are written empty and say so (dbt still
    builds the tags and profile of the members of ``dim_customer``)."""
    try:
        data = load(con)
    except NotEnoughData as exc:
        skip = _skipped(con, ("customer_rfm", "customer_value", "customer_churn_risk"), exc)
        return {"customer_rfm": skip, "customer_value": skip, "customer_churn_risk": skip}
    return {"customer_rfm": build_rfm(con, data, rfm_snapshots), "customer_value": build_value_or_skip(con, data, registry),
            "customer_churn_risk": build_churn_or_skip(con, data, registry, config)}
