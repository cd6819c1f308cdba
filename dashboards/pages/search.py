"""Search: what shoppers look for, what they do not find, and what is rising."""

import plotly.express as px
import streamlit as st

from dashboards.common import context, guarded
from dashboards.queries import search

RATES = {"view_rate": st.column_config.NumberColumn("Led to a product view", format="percent"),
         "order_rate": st.column_config.NumberColumn("Session ordered", format="percent")}


def render() -> None:
    src, f = context("search")
    st.title("Search")
    st.caption(f"{f.describe()} (searches have a channel, not a store)")
    top = search.top(src, f)
    if top.is_empty():
        st.info("No searches in this period: search needs the Products Searched tracking events.")
        return
    st.plotly_chart(px.bar(top.head(15), x="searches", y="query", orientation="h", title="Top queries",
                           labels={"searches": "Searches", "query": "Query"}).update_yaxes(autorange="reversed"))
    st.dataframe(top, hide_index=True, column_config=RATES)
    left, right = st.columns(2)
    left.subheader("Dead ends: searched, rarely viewed or bought")
    left.dataframe(search.dead_ends(src, f), hide_index=True, column_config=RATES)
    right.subheader("Rising against the period before")
    right.dataframe(search.rising(src, f), hide_index=True,
                    column_config={"growth": st.column_config.NumberColumn("Growth", format="percent")})


guarded(render)
