"""Segment picker: compose an audience, see its size and who is in it, save it as a named,
versioned segment (the hand-off to campaigns), export the members as CSV."""

import plotly.express as px
import streamlit as st

from dashboards.common import context, csv_download, guarded, money, settings
from dashboards.queries import segments
from serving.segments import TAGS, SegmentRule, SegmentStore, profile


def _rule(options: dict) -> SegmentRule:
    with st.form("segment_rule", border=True):
        a, b, c = st.columns(3)
        rfm = a.multiselect("RFM segment", options["rfm_segments"], key="seg_rfm")
        tags = a.multiselect("Tags (all of)", list(TAGS), key="seg_tags")
        regions = b.multiselect("Region", options["regions"], key="seg_regions")
        stores = b.multiselect("Home store", options["home_stores"], key="seg_stores")
        tiers = c.multiselect("Tier", options["tiers"], key="seg_tiers")
        bands = c.multiselect("Churn risk", options["churn_bands"], key="seg_bands")
        a, b, c, d = st.columns(4)
        min_orders = a.number_input("Orders at least", 0, 10_000, 0, key="seg_min_orders")
        max_recency = b.number_input("Last order within (days, 0 = any)", 0, 3650, 0, key="seg_recency")
        min_clv = c.number_input("CLV 365d at least", 0.0, 1e9, 0.0, step=100.0, key="seg_clv")
        category = d.selectbox("Bought category", ["(any)", *options["categories"]], key="seg_category")
        within = d.number_input("... in the last N days", 1, 3650, 30, key="seg_within")
        st.form_submit_button("Update audience")
    return SegmentRule(rfm_segments=tuple(rfm), tags=tuple(tags), regions=tuple(regions), home_stores=tuple(stores),
                       tiers=tuple(tiers), churn_bands=tuple(bands), min_orders=int(min_orders) or None,
                       max_recency_days=int(max_recency) or None, min_clv=float(min_clv) or None,
                       bought_category=None if category == "(any)" else category, bought_within_days=int(within))


def render() -> None:
    src, _ = context("segments")
    st.title("Segment picker")
    st.caption("Members as scored on the marts' last day. The sidebar's filters do not apply here: the rule "
               "below says who is in.")
    rule = _rule(segments.options(src))
    members = segments.members(src, rule)
    who = profile(members)
    row = st.columns(3)
    row[0].metric("Audience", f"{who['members']:,} members")
    row[1].metric("Average CLV (365 days)", money(who["avg_clv"]))
    row[2].metric("Expected revenue at risk", money(who["revenue_at_risk"]), help="sum of CLV x churn probability")
    if who["members"]:
        mix = [{"segment": k, "share": v} for k, v in who["segment_mix"].items()]
        st.plotly_chart(px.bar(mix, x="segment", y="share", title="RFM segment mix of the audience",
                               labels={"segment": "RFM segment", "share": "Share of the audience"}
                               ).update_yaxes(tickformat=".0%"))
    st.dataframe(members.head(200), hide_index=True)
    csv_download(members, "Export the members (CSV)", "segment_members.csv", key="dl_members")

    store = SegmentStore(settings().segments)
    with st.form("save_segment"):
        name = st.text_input("Segment name (lower-case, digits, - or _)", key="seg_name")
        note = st.text_input("Note", key="seg_note")
        saved = st.form_submit_button("Save segment")
    if saved:
        try:
            version = store.save(name.strip(), rule, who["members"], note)
            st.success(f"Saved segment '{name.strip()}' as version {version} ({who['members']:,} members).")
        except ValueError as exc:
            st.error(str(exc))
    names = store.names()
    if names:
        st.subheader("Saved segments")
        st.dataframe([{"name": n, "version": v["version"], "members": v["members"], "saved_at": v["saved_at"],
                       "note": v["note"]} for n in names for v in store.versions(n)], hide_index=True)


guarded(render)
