"""The customer block: RFM snapshots, lifetime value, churn risk and the win-back list.

Reads the marts, calls the plain model functions of ``models/``, writes marts back and records
every training run in the model registry. The Dagster assets in ``pipelines.assets.customer``
wrap these functions; the CLI's ``evaluate`` prints the registry cards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import polars as pl

from models.churn import ChurnConfig, backtest, features, fit, rft_summary, training_frame
from models.clv import expected_purchases, expected_spend, fit_bgnbd, fit_gamma_gamma, probability_alive
from models.errors import NotEnoughData
from models.purchases import purchases
from models.rfm import rfm_table
from pipelines.marts import write_empty, write_mart
from pipelines.settings import load_settings
from serving.registry import Registry

# Written, empty, when the data is too thin for a model, so that the profile still builds.
EMPTY_TABLES = {
    "customer_rfm": "customer_id VARCHAR, last_purchase_at TIMESTAMP, frequency UINTEGER, monetary DOUBLE, "
                    "recency_days INTEGER, r_score TINYINT, f_score TINYINT, m_score TINYINT, segment VARCHAR, "
                    "as_of DATE",
    "customer_value": "customer_id VARCHAR, frequency DOUBLE, recency DOUBLE, T DOUBLE, p_alive DOUBLE, "
                      "expected_purchases_90d DOUBLE, expected_purchases_180d DOUBLE, expected_purchases_365d DOUBLE, "
                      "expected_spend DOUBLE, clv_90d DOUBLE, clv_180d DOUBLE, clv_365d DOUBLE, as_of DATE",
    "customer_churn_risk": "customer_id VARCHAR, recency_days DOUBLE, frequency UINTEGER, monetary DOUBLE, "
                           "churn_probability DOUBLE, risk_band VARCHAR, horizon_days INTEGER, as_of DATE, "
                           "scored_with VARCHAR",
    "winback_list": "customer_id VARCHAR, churn_probability DOUBLE, clv_365d DOUBLE, value_at_risk DOUBLE, "
                    "recency_days DOUBLE, frequency UINTEGER, rank BIGINT",
}
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


def build_rfm(con: duckdb.DuckDBPyConnection, data: CustomerData) -> dict:
    """marts.customer_rfm: one row per customer and monthly as-of date (last 12 months)."""
    first = data.lines["ordered_at"].min().date()
    today = data.as_of.date()
    dates, month = [today], today.replace(day=1)
    snapshots = load_settings().get("rfm_snapshots")  # monthly as-of dates kept, so segment moves can be seen
    while len(dates) < snapshots and month > first:
        if month < today:
            dates.append(month)
        month = (month - timedelta(days=1)).replace(day=1)
    snapshots = [rfm_table(data.lines, d) for d in dates]
    rfm = pl.concat(snapshots).sort("as_of", "customer_id")
    write_mart(con, "customer_rfm", rfm)
    latest = rfm.filter(pl.col("as_of") == rfm["as_of"].max())
    return {"snapshots": len(snapshots), "customers": len(latest),
            "segments": dict(latest.group_by("segment").len().sort("len", descending=True).iter_rows())}


def build_value(con: duckdb.DuckDBPyConnection, data: CustomerData, registry: Registry, holdout_days: int = 90) -> dict:
    """marts.customer_value from BG/NBD + Gamma-Gamma, after a time-split check of the fit."""
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

    marts.customer_churn_risk (probability, risk band) and marts.winback_list (ranked by
    churn probability x 365-day value)."""
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
    con.execute("""
        CREATE OR REPLACE TABLE marts.winback_list AS
        SELECT r.customer_id, r.churn_probability, coalesce(v.clv_365d, 0) AS clv_365d,
               r.churn_probability * coalesce(v.clv_365d, 0) AS value_at_risk, r.recency_days, r.frequency,
               row_number() OVER (ORDER BY r.churn_probability * coalesce(v.clv_365d, 0) DESC, r.customer_id) AS rank
        FROM marts.customer_churn_risk r LEFT JOIN marts.customer_value v USING (customer_id)
        WHERE r.risk_band <> 'low'
        ORDER BY rank""")
    return {"customers_scored": len(risk), "backtest_roc_auc": card["metrics"]["smartmall_churn"]["roc_auc"],
            "best_baseline": card["best_baseline"],
            "best_baseline_roc_auc": card["metrics"][card["best_baseline"]]["roc_auc"], "checks_passed": passed,
            "horizon_days": config.horizon_days, "note": note, "scored_with": scored_with}


def _skipped(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...], exc: NotEnoughData) -> dict:
    write_empty(con, {name: EMPTY_TABLES[name] for name in tables})
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
        return _skipped(con, ("customer_churn_risk", "winback_list"), exc)


def build_profile(con: duckdb.DuckDBPyConnection, as_of_day: date) -> dict:
    """marts.customer_tags (behaviour and transaction tags) and marts.customer_profile, the
    360-degree view: base data, tier, latest RFM segment, value, churn risk and tags. Every member
    of ``dim_customer`` has a row, with or without purchases."""
    as_of = as_of_day.isoformat()
    con.execute(f"""
        CREATE OR REPLACE TABLE marts.customer_tags AS
        WITH l AS (
            SELECT l.*, p.category FROM marts.fct_order_lines l LEFT JOIN marts.dim_product p USING (sku)
            WHERE l.customer_id IS NOT NULL AND l.ordered_at < DATE '{as_of}'),
        o AS (SELECT * FROM marts.fct_orders WHERE customer_id IS NOT NULL AND ordered_at < DATE '{as_of}'),
        s AS (SELECT * FROM marts.fct_sessions WHERE customer_id IS NOT NULL
              AND started_at >= DATE '{as_of}' - INTERVAL 90 DAY AND started_at < DATE '{as_of}'),
        by_line AS (
            SELECT customer_id,
                   avg(CASE WHEN promotion_id IS NOT NULL OR coupon_code IS NOT NULL THEN 1 ELSE 0 END) AS promo_share,
                   avg(CASE WHEN quantity < 0 THEN 1 ELSE 0 END) AS return_share,
                   count(*) AS lines,
                   arg_max(category, net_revenue) AS top_line_category,
                   count(*) - count(DISTINCT sku) AS repeat_sku_lines
            FROM l GROUP BY 1),
        top_category AS (
            SELECT customer_id, arg_max(category, revenue) AS top_category
            FROM (SELECT customer_id, category, sum(net_revenue) AS revenue FROM l GROUP BY 1, 2) GROUP BY 1),
        by_order AS (
            SELECT customer_id, count(*) FILTER (WHERE NOT is_return) AS orders,
                   avg(net_revenue) FILTER (WHERE NOT is_return) AS avg_order_value,
                   mode(channel) AS preferred_channel,
                   avg(CASE WHEN fulfillment = 'pickup' THEN 1 ELSE 0 END) FILTER (WHERE NOT is_return) AS pickup_share,
                   count(*) FILTER (WHERE NOT is_return AND ordered_at >= DATE '{as_of}' - INTERVAL 90 DAY) AS orders_90d,
                   date_diff('day', min(ordered_at), DATE '{as_of}') AS tenure_days
            FROM o GROUP BY 1),
        by_session AS (
            SELECT customer_id, count(*) AS sessions_90d, count(*) FILTER (WHERE abandoned_cart) AS abandoned_carts_90d
            FROM s GROUP BY 1)
        SELECT c.customer_id,
               coalesce(bs.sessions_90d, 0) >= 3 AND coalesce(bo.orders_90d, 0) = 0 AS browses_without_buying,
               coalesce(bs.abandoned_carts_90d, 0) >= 2 AS abandons_carts,
               coalesce(bl.promo_share, 0) >= 0.4 AND coalesce(bl.lines, 0) >= 3 AS promotion_sensitive,
               coalesce(bo.pickup_share, 0) >= 0.3 AS uses_store_pickup,
               coalesce(bl.return_share, 0) >= 0.2 AND coalesce(bl.lines, 0) >= 5 AS high_returner,
               coalesce(bl.repeat_sku_lines, 0) >= 2 AS repurchaser,
               month(c.birthday) = month(DATE '{as_of}') AS birthday_this_month,
               tc.top_category AS category_affinity,
               bo.preferred_channel,
               bo.avg_order_value,
               bo.orders AS lifetime_orders,
               round(bo.orders / greatest(bo.tenure_days / 30.4, 1), 3) AS orders_per_month,
               coalesce(bs.sessions_90d, 0) AS sessions_90d,
               DATE '{as_of}' AS as_of
        FROM marts.dim_customer c
        LEFT JOIN by_line bl USING (customer_id)
        LEFT JOIN top_category tc USING (customer_id)
        LEFT JOIN by_order bo USING (customer_id)
        LEFT JOIN by_session bs USING (customer_id)""")
    con.execute("""
        CREATE OR REPLACE TABLE marts.customer_profile AS
        SELECT c.customer_id, c.signup_at, c.signup_channel, c.region, c.home_store_id, c.birthday, c.gender,
               c.account_type, c.tier, c.first_order_at, c.last_order_at, c.orders, c.net_revenue,
               r.segment AS rfm_segment, r.r_score, r.f_score, r.m_score,
               v.p_alive, v.expected_purchases_365d, v.expected_spend, v.clv_365d,
               k.churn_probability, k.risk_band AS churn_risk_band,
               t.* EXCLUDE (customer_id, as_of), t.as_of
        FROM marts.dim_customer c
        LEFT JOIN (SELECT * FROM marts.customer_rfm WHERE as_of = (SELECT max(as_of) FROM marts.customer_rfm)) r
            USING (customer_id)
        LEFT JOIN marts.customer_value v USING (customer_id)
        LEFT JOIN marts.customer_churn_risk k USING (customer_id)
        LEFT JOIN marts.customer_tags t USING (customer_id)""")
    n, tagged = con.execute("""SELECT count(*), count(*) FILTER (WHERE browses_without_buying OR abandons_carts
        OR promotion_sensitive OR uses_store_pickup OR high_returner OR repurchaser) FROM marts.customer_profile""").fetchone()
    return {"customers": int(n), "with_a_behaviour_tag": int(tagged)}


def run_customer_block(con: duckdb.DuckDBPyConnection, registry: Registry,
                       config: ChurnConfig | None = None) -> dict[str, dict]:
    """Every customer mart, with what each model reported (or why it was skipped), by mart name.
    Without any identified customer the model marts are written empty and say so; the tags and
    profile still cover the members of ``dim_customer``."""
    try:
        data = load(con)
    except NotEnoughData as exc:
        skip = _skipped(con, ("customer_rfm", "customer_value", "customer_churn_risk", "winback_list"), exc)
        last = con.execute("SELECT max(ordered_at) FROM marts.fct_order_lines").fetchall()[0][0]
        as_of = (last.date() + timedelta(days=1)) if last else date.today()
        return {"customer_rfm": skip, "customer_value": skip, "customer_churn_risk": skip, "winback_list": skip,
                "customer_profile": build_profile(con, as_of)}
    out = {"customer_rfm": build_rfm(con, data), "customer_value": build_value_or_skip(con, data, registry),
           "customer_churn_risk": build_churn_or_skip(con, data, registry, config)}
    out["winback_list"] = out["customer_churn_risk"]
    out["customer_profile"] = build_profile(con, data.as_of.date())
    return out
