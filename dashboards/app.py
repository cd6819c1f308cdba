"""smartmall dashboards: one Streamlit app for analysts and marketers.

    smartmall dashboards            # http://127.0.0.1:8501

It reads the marts snapshot the pipeline publishes after each run (``SMARTMALL_MARTS_SNAPSHOT``)
and the model cards (``SMARTMALL_REGISTRY_DIR``), and saves segments under
``SMARTMALL_SEGMENTS_DIR``; ``smartmall dashboards`` sets all three.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent
PAGES = [  # (file, title, icon)
    ("pages/overview.py", "Overview", ":material/dashboard:"),
    ("pages/sales.py", "Sales trends", ":material/trending_up:"),
    ("pages/weekly.py", "Weekly report", ":material/summarize:"),
    ("pages/funnel.py", "Funnel and paths", ":material/filter_list:"),
    ("pages/search.py", "Search", ":material/search:"),
    ("pages/customers.py", "Customers", ":material/groups:"),
    ("pages/segments.py", "Segment picker", ":material/filter_alt:"),
    ("pages/inventory.py", "Inventory", ":material/inventory_2:"),
    ("pages/forecasts.py", "Forecasts", ":material/query_stats:"),
    ("pages/basket.py", "Basket", ":material/shopping_basket:"),
    ("pages/stores.py", "Stores and IoT", ":material/sensors:"),
]

st.set_page_config(page_title="smartmall", page_icon=":material/storefront:", layout="wide")
# each page draws the shared filters itself (``common.context``): its widgets are its own
st.navigation([st.Page(str(HERE / file), title=title, icon=icon, url_path=Path(file).stem, default=i == 0)
               for i, (file, title, icon) in enumerate(PAGES)]).run()
