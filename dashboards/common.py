"""What every page shares: the cached snapshot, the sidebar's filters (kept in the URL), formats.

Queries are cached per snapshot version (a new ``smartmall run`` publishes a new one, which the
next query sees without a restart) and for ten minutes at most.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import polars as pl
import streamlit as st

from dashboards.filters import Filters
from dashboards.queries import overview
from dashboards.snapshot import Marts, NoData, marts_source
from data.settings import Settings, SettingsError, load_settings

ALL = "All"


def settings() -> Settings:
    """The settings, read once per session (a browser tab): where the snapshot, the model registry and
    the saved segments are, and the currency sign."""
    if "_settings" not in st.session_state:
        st.session_state["_settings"] = load_settings()
    return st.session_state["_settings"]


def money_format() -> str:
    """A money column's format (``st.column_config.NumberColumn``)."""
    return f"{settings().currency}%.0f"


@st.cache_data(ttl=600, show_spinner=False, max_entries=512)
def _query(_src: Marts, source: str, version: int | str, sql: str, params: tuple) -> pl.DataFrame:
    return _src.query(sql, list(params))


class CachedMarts:
    """A page run's marts: queries cached per source and version (asked once per run)."""

    def __init__(self, src: Marts) -> None:
        self.src = src

    @cached_property
    def version(self) -> int | str:
        return self.src.version

    def tables(self) -> set[str]:
        return self.src.tables()

    def query(self, sql: str, params: list | tuple = ()) -> pl.DataFrame:
        return _query(self.src, repr(self.src), self.version, sql, tuple(params))


def sidebar_filters(src: Marts, page: str) -> Filters:
    """Draw the shared filters in the sidebar and return them. Every page draws them, with keys of
    its own (Streamlit drops a widget's state when its page is left); the values travel between
    pages in the session (``_filters``) and in the URL, which a session's first page reads."""
    first, last = overview.data_range(src)
    if first is None:
        raise NoData("The marts hold no orders yet: import some transactions and run `smartmall run`.")
    opts = overview.choices(src)
    kept = st.session_state.get("_filters") or Filters.from_params(st.query_params.to_dict(), first, last)

    def pick(label: str, options: list[str], value: str | None) -> str | None:
        choices = [ALL, *options]
        chosen = st.selectbox(label, choices, index=choices.index(value) if value in choices else 0,
                              key=f"f_{label.lower()}:{page}")
        return None if chosen == ALL else chosen

    with st.sidebar:
        st.header("Filters")
        period = st.date_input("Period", value=(max(kept.start, first), min(kept.end, last)), min_value=first,
                               max_value=last, key=f"f_period:{page}")
        channel = pick("Channel", opts["channel"], kept.channel)
        region = pick("Region", opts["region"], kept.region)
        store = pick("Store", opts["store"], kept.store)
    if isinstance(period, tuple | list) and len(period) == 2:
        start, end = period
    elif isinstance(period, tuple | list) and period:  # the second day of a range is still being picked
        start = end = period[0]
    else:
        start, end = first, last
    chosen = Filters(start, end, channel, region, store)
    st.session_state["_filters"] = chosen
    if st.query_params.to_dict() != chosen.to_params():
        st.query_params.from_dict(chosen.to_params())
    return chosen


def context(page: str) -> tuple[Marts, Filters]:
    """The page's marts (``dashboards.snapshot.marts_source``) and the shared filters (drawn in the
    sidebar); ``page`` names the page."""
    src = CachedMarts(marts_source(settings()))
    return src, sidebar_filters(src, page)


def money(value: float | None) -> str:
    return "-" if value is None else f"{settings().currency}{value:,.0f}"


def percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def change(now: float | None, before: float | None) -> str | None:
    """The delta shown under a count or an amount: relative change in percent."""
    if now is None or not before:
        return None
    return f"{now / before - 1:+.1%}"


def points(now: float | None, before: float | None) -> str | None:
    """The delta shown under a rate: the change in percentage points."""
    if now is None or before is None:
        return None
    return f"{(now - before) * 100:+.1f} pts"


def guarded(render: Callable[[], None]) -> None:
    """Run a page; missing data becomes a message that says what to run, not a traceback, and so
    does a bad setting."""
    try:
        render()
    except NoData as exc:
        st.info(str(exc))
    except SettingsError as exc:
        st.error(f"{exc}. Fix the setting and reload the page.")


def csv_download(frame: pl.DataFrame, label: str, file_name: str, key: str | None = None) -> None:
    st.download_button(label, frame.write_csv().encode(), file_name=file_name, mime="text/csv", key=key,
                       disabled=frame.is_empty())


__all__ = ["ALL", "CachedMarts", "NoData", "context", "settings"]
