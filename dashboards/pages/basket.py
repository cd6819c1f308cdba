"""Basket: association rules, filtered by SKU or category and sorted by lift, confidence or support."""

import streamlit as st

from dashboards.common import ALL, context, csv_download, guarded
from dashboards.queries import basket


def render() -> None:
    src, _ = context("basket")
    st.title("Basket: bought together")
    left, middle, right = st.columns(3)
    sku = left.text_input("SKU (either side of the rule)", key="basket_sku").strip() or None
    category = middle.selectbox("Category", [ALL, *basket.categories(src)], key="basket_category")
    sort = right.segmented_control("Sort by", ["lift", "confidence", "support"], default="lift",
                                   key="basket_sort") or "lift"
    min_lift = st.slider("Minimum lift", 1.0, 10.0, 1.0, 0.1, key="basket_lift")
    rules = basket.rules(src, sku, None if category == ALL else category, min_lift, sort)
    st.caption(f"{rules.height:,} rules (at most 500 shown)")
    st.dataframe(rules, hide_index=True, column_config={
        "support": st.column_config.NumberColumn("Support", format="percent"),
        "confidence": st.column_config.NumberColumn("Confidence", format="percent"),
        "lift": st.column_config.NumberColumn("Lift", format="%.2f")})
    csv_download(rules, "Download as CSV", "rules.csv")


guarded(render)
