"""Weekly operating report: a week against the week before and the same week last year, the three
biggest movers explained; download it as CSV or as a printable page."""

import streamlit as st

from dashboards.common import context, guarded
from dashboards.queries import weekly


def render() -> None:
    src, f = context("weekly")
    st.title("Weekly operating report")
    weeks = weekly.weeks(src)
    if not weeks:
        st.info("No orders yet.")
        return
    monday = st.selectbox("Week starting", weeks, key="weekly_week")
    st.caption("The channel, region and store filters apply; the period filter does not (the week does).")
    table = weekly.report(src, monday, f)
    st.dataframe(weekly.readable(table), hide_index=True)
    st.caption("Changes: relative for counts and money, in percentage points for conversion, retention and "
               "repurchase. The CSV has the unformatted numbers.")
    moves = weekly.movers(src, monday, f)
    st.subheader("Biggest movers (region x category, GMV against the week before)")
    for line in moves["why"].to_list():
        st.markdown(f"- {line}")
    scope = ", ".join(f"{name} {v}" for name, v in (("channel", f.channel), ("region", f.region), ("store", f.store)) if v)
    title = f"smartmall weekly report, week of {monday:%Y-%m-%d}" + (f" ({scope})" if scope else "")
    left, right = st.columns(2)
    left.download_button("Download as CSV", table.write_csv().encode(), f"weekly_{monday}.csv", "text/csv",
                         key="weekly_csv")
    right.download_button("Download printable page (HTML)", weekly.printable(table, moves, title).encode(),
                          f"weekly_{monday}.html", "text/html", key="weekly_html")


guarded(render)
