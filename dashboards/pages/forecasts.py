"""Forecasts: a series' weekly forecast with its 80 % and 95 % intervals beside what sold before."""

import plotly.graph_objects as go
import streamlit as st

from dashboards.common import context, guarded, settings
from dashboards.queries import forecasts


def render() -> None:
    src, f = context("forecasts")
    st.title("Demand forecasts")
    level = st.segmented_control("Level", ["SKU at a location", "category", "region", "all"],
                                 default="SKU at a location", key="forecast_level") or "SKU at a location"
    if level != "SKU at a location":
        _aggregate(src, level)
        _accuracy()
        return
    series = forecasts.series(src, f)
    if series.is_empty():
        st.info("No forecasts: they need 12+ weeks of sales.")
        return
    labels = [f"{r['sku']} @ {r['location_id']} ({r['model']}, {r['demand_class']})" for r in series.iter_rows(named=True)]
    chosen = st.selectbox("Series (biggest forecast first; the store filter applies)", range(len(labels)),
                          format_func=labels.__getitem__, key="forecast_series")
    row = series.row(chosen, named=True)
    frame = forecasts.history_and_forecast(src, row["sku"], row["location_id"])
    actual, ahead = frame.filter(frame["kind"] == "actual"), frame.filter(frame["kind"] == "forecast")
    fig = go.Figure()
    for lower, upper, name, opacity in (("lower_95", "upper_95", "95 % interval", 0.15),
                                        ("lower_80", "upper_80", "80 % interval", 0.3)):
        fig.add_trace(go.Scatter(x=[*ahead["week_start"], *ahead["week_start"][::-1]],
                                 y=[*ahead[upper], *ahead[lower][::-1]], fill="toself", name=name,
                                 opacity=opacity, line={"width": 0}))
    fig.add_trace(go.Scatter(x=actual["week_start"], y=actual["units"], name="sold", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=ahead["week_start"], y=ahead["units"], name="forecast", mode="lines+markers"))
    fig.update_layout(title=f"Weekly units: {row['sku']} at {row['location_id']}", xaxis_title="Week",
                      yaxis_title="Units per week")
    st.plotly_chart(fig)
    st.dataframe(ahead.drop("kind"), hide_index=True)
    _accuracy()


def _aggregate(src, level: str) -> None:
    keys = forecasts.hierarchy_keys(src, level)
    if not keys:
        st.info("No forecasts at this level yet.")
        return
    key = st.selectbox(level.capitalize(), keys, key=f"forecast_{level}") if len(keys) > 1 else keys[0]
    frame = forecasts.hierarchy(src, level, key)
    fig = go.Figure()
    for kind, name in (("actual", "sold"), ("forecast", "forecast")):
        part = frame.filter(frame["kind"] == kind)
        fig.add_trace(go.Scatter(x=part["week_start"], y=part["units"], name=name, mode="lines+markers"))
    fig.update_layout(title=f"Weekly units: {level} {key}", xaxis_title="Week", yaxis_title="Units per week")
    st.plotly_chart(fig)
    st.caption("Above the SKU level the forecast is the sum of the series below it (no interval: the quantiles "
               "of a sum are not the sum of the quantiles).")


def _accuracy() -> None:
    st.subheader("Backtest accuracy beside the baselines (lower MASE is better)")
    summary, metrics, coverage = forecasts.backtest(settings().registry)
    if not summary:
        st.info(f"No forecast model card in {settings().registry} yet: `smartmall run` trains one.")
        return
    st.caption(f"Model card {summary['version']}, data {summary['data_window'][0]} to {summary['data_window'][1]}, "
               f"{summary['horizon_weeks']} weeks ahead: MASE {summary['mase_vs_best_baseline']:.2f}x the best "
               f"baseline ({summary['best_baseline']}). Model per demand class: "
               + ", ".join(f"{k} -> {v}" for k, v in (summary["model_per_demand_class"] or {}).items()))
    st.dataframe(metrics, hide_index=True, column_config={
        "wape": st.column_config.NumberColumn("WAPE", format="percent"),
        "bias": st.column_config.NumberColumn("Bias", format="percent")})
    st.caption("Out-of-time coverage of the 80 % and 95 % intervals on the backtest, per model and demand class. "
               "'Ties split' breaks ties at the forecast at random: a slow item's week is often zero and so is "
               "its forecast, and any interval holding the forecast covers those weeks (share in 'At forecast').")
    st.dataframe(coverage, hide_index=True, column_config={
        "coverage_80": st.column_config.NumberColumn("80 % interval", format="percent"),
        "coverage_95": st.column_config.NumberColumn("95 % interval", format="percent"),
        "coverage_80_randomized": st.column_config.NumberColumn("80 %, ties split", format="percent"),
        "coverage_95_randomized": st.column_config.NumberColumn("95 %, ties split", format="percent"),
        "at_forecast_share": st.column_config.NumberColumn("At forecast", format="percent")})


guarded(render)
