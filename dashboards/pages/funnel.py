"""Funnel and paths: where sessions drop off, by channel or device; how long buying takes; the
commonest paths to an order and to an abandoned cart."""

import plotly.express as px
import streamlit as st

from dashboards.common import context, guarded
from dashboards.queries import funnel


def render() -> None:
    src, f = context("funnel")
    st.title("Funnel and paths")
    st.caption(f"{f.describe()} (sessions have a channel and a device, not a store: those filters do not apply)")
    by = st.segmented_control("By", ["channel", "device"], default="channel", key="funnel_by") or "channel"
    steps = funnel.steps(src, f, by)
    if steps.is_empty():
        st.info("No sessions in this period: the funnel needs tracking events (see the README's input table).")
        return
    fig = px.line(steps, x="step_name", y="share_of_sessions", color="key", markers=True,
                  title=f"Share of sessions reaching each step, by {by}",
                  labels={"step_name": "Step", "share_of_sessions": "Share of sessions", "key": by.capitalize()})
    fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig)
    st.dataframe(steps.select("key", "step_name", "sessions", "share_of_sessions", "from_previous_step"),
                 hide_index=True, column_config={
                     "share_of_sessions": st.column_config.NumberColumn("Share of sessions", format="percent"),
                     "from_previous_step": st.column_config.NumberColumn("From the step before", format="percent")})
    st.subheader("Time to convert (minutes from the session's first event to the order)")
    st.dataframe(funnel.time_to_convert(src, f), hide_index=True)
    left, right = st.columns(2)
    left.subheader("Commonest paths to an order")
    left.dataframe(funnel.paths(src, f, "order"), hide_index=True,
                   column_config={"share": st.column_config.NumberColumn("Share", format="percent")})
    right.subheader("Commonest paths to an abandoned cart")
    right.dataframe(funnel.paths(src, f, "abandoned"), hide_index=True,
                    column_config={"share": st.column_config.NumberColumn("Share", format="percent")})


guarded(render)
