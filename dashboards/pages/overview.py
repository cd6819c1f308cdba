"""Overview: the period's headline numbers beside the period before, and GMV by day."""

import plotly.express as px
import streamlit as st

from dashboards.common import change, context, guarded, money, percent, points
from dashboards.queries import overview


def render() -> None:
    src, f = context("overview")
    st.title("Overview")
    st.caption(f"{f.describe()}, against the {f.days} days before")
    now, before = overview.kpis(src, f), overview.kpis(src, f.previous())
    stock = overview.inventory(src)
    row = st.columns(4)
    row[0].metric("GMV", money(now.gmv), change(now.gmv, before.gmv), help="net revenue of sales orders (returns excluded)")
    row[1].metric("Orders", f"{now.orders:,}", change(now.orders, before.orders))
    row[2].metric("Average order value", money(now.aov), change(now.aov, before.aov))
    row[3].metric("Conversion rate", percent(now.conversion), points(now.conversion, before.conversion),
                  help="sessions that ended in an order; follows the channel filter only")
    row = st.columns(4)
    row[0].metric("Member repurchase rate", percent(now.repurchase), points(now.repurchase, before.repurchase),
                  help="members who bought in the period and bought 2+ times in it")
    row[1].metric("BOPIS share", percent(now.bopis), points(now.bopis, before.bopis),
                  help="orders bought online and picked up in store")
    row[2].metric("Inventory turnover", "-" if stock["turnover_days"] is None else f"{stock['turnover_days']:.0f} days",
                  help=f"average stock / daily sales over 90 days, whole network, as of {stock['as_of']}")
    row[3].metric("Slow-moving share", percent(stock["slow_moving_share"]),
                  help="SKU x locations with stock and no sale in 30+ days")
    daily = overview.daily(src, f)
    if daily.is_empty():
        st.info("No orders in this period with these filters.")
        return
    fig = px.line(daily, x="day", y="gmv", title="GMV per day", labels={"day": "Day", "gmv": "GMV (currency)"})
    st.plotly_chart(fig)


guarded(render)
