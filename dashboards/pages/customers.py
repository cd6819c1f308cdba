"""Customers: RFM segments and how members moved between them, the CLV spread, the win-back list."""

import plotly.express as px
import streamlit as st

from dashboards.common import context, csv_download, guarded, money, money_format
from dashboards.queries import customers


def render() -> None:
    src, _ = context("customers")
    st.title("Customers")
    segments = customers.segments(src)
    if segments.is_empty():
        st.info("No RFM segments yet: they need identified customers (customer_id on transactions).")
        return
    st.caption(f"RFM as of {segments['as_of'][0]} (the customer models score the whole base; the period filter "
               "does not apply)")
    left, right = st.columns(2)
    left.plotly_chart(px.treemap(segments, path=["segment"], values="members", color="revenue",
                                 title="Segments: size (area) and 12-month revenue (colour)"))
    moves = customers.movements(src)
    if not moves.is_empty():
        grid = moves.pivot(on="to_segment", index="from_segment", values="members").fill_null(0)
        right.plotly_chart(px.imshow(grid.drop("from_segment").to_numpy(), x=grid.columns[1:],
                                     y=grid["from_segment"].to_list(), text_auto=True, aspect="auto",
                                     labels={"x": "Segment now", "y": "Segment a month before", "color": "Members"},
                                     title="Movement between the last two snapshots"))
    st.dataframe(segments.drop("as_of"), hide_index=True, column_config={
        "share": st.column_config.NumberColumn("Share", format="percent"),
        "revenue": st.column_config.NumberColumn("Revenue (12 months)", format=money_format()),
        "avg_recency_days": st.column_config.NumberColumn("Avg days since last order", format="%.0f")})
    clv = customers.clv(src)
    if not clv.is_empty():
        top = clv["clv_365d"].quantile(0.99)  # a few whales would squash the rest into one bar
        st.plotly_chart(px.histogram(clv.filter(clv["clv_365d"] <= top), x="clv_365d", nbins=40,
                                     title="Predicted 12-month value per member (the top 1 % left out)",
                                     labels={"clv_365d": "CLV, 365 days (currency)"}).update_yaxes(title="Members"))
    st.subheader("Win back: members at risk, most value at risk first")
    winback = customers.winback(src)
    st.metric("Value at risk in the list", money(float(winback["value_at_risk"].sum()) if not winback.is_empty() else 0))
    st.dataframe(winback, hide_index=True, column_config={
        "churn_probability": st.column_config.NumberColumn("Churn probability", format="percent"),
        "clv_365d": st.column_config.NumberColumn("CLV 365d", format=money_format()),
        "value_at_risk": st.column_config.NumberColumn("Value at risk", format=money_format())})
    csv_download(winback, "Download the win-back list", "winback.csv")


guarded(render)
