"""Inventory and replenishment: slow movers, stock-outs, safety-stock alerts, and what to order or
transfer with the reason, downloadable for purchasing."""

import streamlit as st

from dashboards.common import context, csv_download, guarded, percent
from dashboards.queries import inventory


def render() -> None:
    src, f = context("inventory")
    st.title("Inventory and replenishment")
    st.caption("Stock as of the last stock day; the region and store filters apply")
    health = inventory.health(src, f)
    if health.is_empty():
        st.info("No stock data: the inventory pages need stock movements or positions (see the README's input table).")
        return
    row = st.columns(4)
    row[0].metric("SKU x locations", f"{health.height:,}")
    row[1].metric("Slow-moving", percent(health["slow_moving"].mean()))
    row[2].metric("With stock-outs (90 days)", f"{(health['stockout_days_90d'] > 0).sum():,}")
    alerts = inventory.alerts(src, f)
    row[3].metric("Safety-stock alerts", f"{alerts.height:,}")
    tabs = st.tabs(["Replenishment", "Transfers", "Alerts", "Slow movers"])
    with tabs[0]:
        plan = inventory.replenishment(src, f)
        st.caption("Order-up-to policy from the demand forecasts; each line says why")
        st.dataframe(plan, hide_index=True)
        csv_download(plan, "Download for purchasing (CSV)", "replenishment.csv", key="dl_replenishment")
    with tabs[1]:
        moves = inventory.transfers(src, f)
        st.dataframe(moves, hide_index=True)
        csv_download(moves, "Download transfers (CSV)", "transfers.csv", key="dl_transfers")
    with tabs[2]:
        st.dataframe(alerts, hide_index=True)
    with tabs[3]:
        slow = health.filter(health["slow_moving"])
        st.dataframe(slow, hide_index=True, column_config={
            "turnover_days": st.column_config.NumberColumn("Turnover days", format="%.0f"),
            "days_of_cover": st.column_config.NumberColumn("Days of cover", format="%.0f")})


guarded(render)
