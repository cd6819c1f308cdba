"""Stores and IoT: when people come in, how many buy, and what the sensors flag."""

import plotly.express as px
import streamlit as st

from dashboards.common import context, guarded, percent
from dashboards.queries import stores


def render() -> None:
    src, f = context("stores")
    st.title("Stores and IoT")
    st.caption(f"{f.describe()} (footfall and sensors are per store: the channel filter does not apply)")
    hours = stores.by_hour(src, f)
    if hours.is_empty():
        st.info("No footfall in this period: this page needs IoT readings (entrance counters, shelves, probes).")
        return
    grid = hours.pivot(on="hour_of_day", index="store_id", values="visitors_per_day").fill_null(0)
    st.plotly_chart(px.imshow(grid.drop("store_id").to_numpy(), x=[f"{h}:00" for h in grid.columns[1:]],
                              y=grid["store_id"].to_list(), aspect="auto", color_continuous_scale="Blues",
                              labels={"x": "Hour of day", "y": "Store", "color": "Visitors per day"},
                              title="Footfall by hour and store (visitors per day, on average)"))
    conv = stores.conversion(src, f)
    cols = st.columns(max(1, min(4, conv.height)))
    for col, row in zip(cols, conv.iter_rows(named=True), strict=False):
        col.metric(f"{row['store_id']}: footfall to purchase", percent(row["conversion"]),
                   help=f"{row['in_store_orders']:,} in-store orders / {row['visitors']:,.0f} visitors")
    st.dataframe(conv, hide_index=True,
                 column_config={"conversion": st.column_config.NumberColumn("Conversion", format="percent")})
    st.subheader("Sensor alerts")
    alerts = stores.alerts(src, f)
    shelf, cold = alerts.filter(alerts["alert"] == "shelf_low"), alerts.filter(alerts["alert"] == "temperature_excursion")
    left, right = st.columns(2)
    left.metric("Smart shelves running low (device-days)", f"{shelf.height:,}")
    right.metric("Cold-chain excursions (device-days)", f"{cold.height:,}")
    st.dataframe(alerts, hide_index=True)


guarded(render)
