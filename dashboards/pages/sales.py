"""Sales trends by period and split, with a drill-down region -> store -> SKU (pick a region or a
store in the sidebar to go down a level)."""

import plotly.express as px
import streamlit as st

from dashboards.common import context, csv_download, guarded, money_format
from dashboards.queries import sales

SPLITS = {"Region": "region", "Store": "store_id", "Category": "category", "Channel": "channel"}


def render() -> None:
    src, f = context("sales")
    st.title("Sales trends")
    st.caption(f.describe())
    left, right = st.columns(2)
    grain = left.segmented_control("Grain", ["day", "week", "month"], default="week", key="sales_grain") or "week"
    split = right.segmented_control("Split by", list(SPLITS), default="Region", key="sales_split") or "Region"
    trend = sales.trend(src, f, grain, SPLITS[split])
    if trend.is_empty():
        st.info("No sales in this period with these filters.")
        return
    fig = px.bar(trend, x="period", y="net_revenue", color="key", title=f"Net revenue per {grain} by {split.lower()}",
                 labels={"period": grain.capitalize(), "net_revenue": "Net revenue (currency)", "key": split})
    st.plotly_chart(fig)
    level, table = sales.drill(src, f)
    names = {"region": "regions", "store_id": f"stores of {f.region}", "sku": f"SKUs of store {f.store}"}
    st.subheader(f"Drill-down: {names[level]} (this period vs the one before)")
    st.caption("Pick a region, then a store, in the sidebar to go a level down.")
    st.dataframe(table, hide_index=True, column_config={
        "key": level, "net_revenue": st.column_config.NumberColumn("Net revenue", format=money_format()),
        "previous": st.column_config.NumberColumn("Previous period", format=money_format()),
        "change": st.column_config.NumberColumn("Change", format="percent")})
    csv_download(table, "Download as CSV", f"sales_{level}.csv")


guarded(render)
