"""smartmall dashboards: one Streamlit app for analysts and marketers.

    smartmall dashboards            # http://127.0.0.1:8501

It reads the marts snapshot the pipeline publishes after each run and the model cards, and saves
segments, where the settings (``data.settings``: ``SMARTMALL_HOME``) say.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboards.navigation import PAGES

HERE = Path(__file__).parent

st.set_page_config(page_title="smartmall", page_icon=":material/storefront:", layout="wide")
# each page draws the shared filters itself (``common.context``): its widgets are its own
st.navigation([st.Page(str(HERE / file), title=title, icon=icon, url_path=Path(file).stem, default=i == 0)
               for i, (file, title, icon) in enumerate(PAGES)]).run()
