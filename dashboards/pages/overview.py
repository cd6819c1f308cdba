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
    turnover, turnover_before = overview.turnover_days(src, f), overview.turnover_days(src, f.previous())
    row[2].metric("Inventory turnover", "-" if turnover is None else f"{turnover:.0f} days",
                  change(turnover, turnover_before), delta_color="inverse",
                  help="average stock on hand / average daily outflow (sold, or shipped on by warehouses) in the "
                       "period; fewer days: faster")
    slow, slow_before = overview.slow_moving_share(src, f), overview.slow_moving_share(src, f.previous())
    row[3].metric("Slow-moving share", percent(slow), points(slow, slow_before), delta_color="inverse",
                  help="on the period's last stock day: SKU x locations holding stock that moved none of it in 30 days")
    daily = overview.daily(src, f)
    if daily.is_empty():
        st.info("No orders in this period with these filters.")
        return
    fig = px.line(daily, x="day", y="gmv", title="GMV per day", labels={"day": "Day", "gmv": "GMV (currency)"})
    st.plotly_chart(fig)


guarded(render)
