"""The dashboards (Streamlit AppTest) on the marts snapshot the README's main job publishes: every
page renders without an exception, its headline numbers equal those computed from the marts here,
the filters travel in the URL, segments save as versions, and missing data is a message."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboards.navigation import PAGES as APP_PAGES
from data.settings import SNAPSHOT_NAME
from serving.marts_snapshot import publish
from serving.segments import SegmentRule, SegmentStore

APP = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")
PAGES = [file for file, _, _ in APP_PAGES]


@pytest.fixture(scope="module")
def snapshot(small_home) -> Path:
    path = small_home / "serving" / SNAPSHOT_NAME
    assert path.exists(), "the main job publishes the dashboards' snapshot"
    return path


@pytest.fixture
def app_env(snapshot, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SMARTMALL_MARTS_SNAPSHOT", str(snapshot))
    monkeypatch.setenv("SMARTMALL_SEGMENTS_DIR", str(tmp_path / "segments"))
    monkeypatch.setenv("SMARTMALL_REGISTRY_DIR", str(snapshot.parent.parent / "registry"))
    return tmp_path / "segments"


def _open(page: str = PAGES[0], **params: str) -> AppTest:
    """The app as a browser opens it (``app.py``: sidebar and navigation), then ``page`` (AppTest
    runs a page by itself after a switch, with the session the app set up)."""
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if page != PAGES[0]:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _sql(snapshot: Path, sql: str, params: list | None = None):
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_a_title_and_no_error(app_env, page):
    at = _open(page)
    assert at.title and not at.error


def test_the_shared_filters_are_in_the_sidebar(app_env):
    at = _open()
    assert [s.label for s in at.sidebar.selectbox] == ["Channel", "Region", "Store"]
    assert len(at.sidebar.date_input) == 1


def test_overview_numbers_equal_the_marts_for_the_default_period_and_a_filtered_one(app_env, snapshot):
    last = _sql(snapshot, "SELECT max(order_date) FROM marts.fct_orders")[0][0]
    start = last - timedelta(days=27)  # the default: the last 28 days with data
    gmv, orders = _sql(snapshot, """SELECT sum(net_revenue)::DOUBLE, count(*) FROM marts.fct_orders
                                    WHERE NOT is_return AND order_date BETWEEN ? AND ?""", [start, last])[0]
    at = _open()
    assert _metric(at, "GMV") == f"¥{gmv:,.0f}"
    assert _metric(at, "Orders") == f"{orders:,}"
    assert _metric(at, "Average order value") == f"¥{gmv / orders:,.0f}"
    # the URL sets the filters: one region, one month
    first = last.replace(day=1)
    gmv_east = _sql(snapshot, """SELECT sum(o.net_revenue)::DOUBLE FROM marts.fct_orders o
                                 JOIN marts.dim_store s USING (store_id)
                                 WHERE NOT o.is_return AND s.region = 'east' AND o.order_date BETWEEN ? AND ?""",
                    [first, last])[0][0]
    at = _open(region="east", start=first.isoformat(), end=last.isoformat())
    assert _metric(at, "GMV") == f"¥{gmv_east:,.0f}"
    assert at.query_params["region"] == ["east"] or at.query_params["region"] == "east"


def test_a_filter_moved_in_the_sidebar_is_written_to_the_url(app_env):
    at = _open()
    at.sidebar.selectbox(key="f_channel:overview").select("app").run()
    assert not at.exception
    channel = at.query_params["channel"]
    assert channel in ("app", ["app"])


def test_customers_page_shows_every_segment_of_the_latest_rfm(app_env, snapshot):
    expected = dict(_sql(snapshot, """SELECT segment, count(*) FROM marts.customer_rfm
                                      WHERE as_of = (SELECT max(as_of) FROM marts.customer_rfm) GROUP BY 1"""))
    at = _open("pages/customers.py")
    table = at.dataframe[0].value
    assert dict(zip(table["segment"], table["members"], strict=True)) == expected


def test_segment_picker_counts_the_audience_and_saves_versions(app_env, snapshot):
    champions = _sql(snapshot, "SELECT count(*) FROM marts.customer_profile WHERE rfm_segment = 'Champions'")[0][0]
    at = _open("pages/segments.py")
    at.multiselect(key="seg_rfm").select("Champions")
    at.button[0].click().run()  # "Update audience" (the form's submit)
    assert not at.exception
    assert _metric(at, "Audience") == f"{champions:,} members"
    at.text_input(key="seg_name").input("vip-winback")
    at.button[1].click().run()  # "Save segment"
    assert not at.exception and at.success, [e.value for e in at.error]
    store = SegmentStore(app_env)
    assert store.load("vip-winback") == SegmentRule(rfm_segments=("Champions",))
    at.button[1].click().run()
    assert [v["version"] for v in store.versions("vip-winback")] == [1, 2]
    at.text_input(key="seg_name").input("Not A Name!")
    at.button[1].click().run()
    assert at.error and "segment name" in at.error[0].value


def test_weekly_report_numbers_equal_the_marts_and_it_downloads(app_env, snapshot):
    monday = _sql(snapshot, "SELECT max(date_trunc('week', order_date))::DATE FROM marts.fct_orders")[0][0]
    gmv, orders = _sql(snapshot, """SELECT sum(net_revenue)::DOUBLE, count(*) FROM marts.fct_orders
                                    WHERE NOT is_return AND order_date BETWEEN ? AND ?""",
                       [monday, monday + timedelta(days=6)])[0]
    sessions = _sql(snapshot, "SELECT count(*) FROM marts.fct_sessions WHERE session_date BETWEEN ? AND ?",
                    [monday, monday + timedelta(days=6)])[0][0]
    at = _open("pages/weekly.py")
    table = at.dataframe[0].value.set_index("Metric")
    assert table.loc["GMV", "This week"] == f"{gmv:,.0f}"
    assert table.loc["Orders", "This week"] == f"{orders:,}"
    assert table.loc["Traffic (sessions)", "This week"] == f"{sessions:,}"
    assert len(at.markdown) >= 3  # the three movers, each a sentence
    assert any("Download as CSV" in b.proto.label for b in at.get("download_button"))


def test_search_and_stores_pages_show_what_the_marts_hold(app_env, snapshot):
    last = _sql(snapshot, "SELECT max(order_date) FROM marts.fct_orders")[0][0]
    top_query, searches = _sql(snapshot, """SELECT search_query, sum(searches) FROM marts.fct_search_daily
                                            WHERE search_date BETWEEN ? AND ? GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1""",
                               [last - timedelta(days=27), last])[0]
    at = _open("pages/search.py")
    top = at.dataframe[0].value
    assert top["query"][0] == top_query and top["searches"][0] == searches
    alerts = _sql(snapshot, """SELECT count(*) FROM marts.fct_iot_alerts WHERE alert = 'temperature_excursion'
                               AND alert_date BETWEEN ? AND ?""", [last - timedelta(days=27), last])[0][0]
    at = _open("pages/stores.py")
    assert _metric(at, "Cold-chain excursions (device-days)") == f"{alerts:,}"


def test_forecasts_page_shows_the_backtest_beside_the_baselines(app_env, snapshot):
    at = _open("pages/forecasts.py")
    metrics = at.dataframe[1].value
    assert {"smartmall_lightgbm", "baseline_naive"} <= set(metrics["model"])
    assert metrics["best_baseline"].sum() == 1
    at.get("button_group")[0].set_value("category").run()  # the reconciled forecast of a category
    assert not at.exception
    categories = {r[0] for r in _sql(snapshot, "SELECT key FROM marts.forecast_hierarchy WHERE level = 'category'")}
    assert at.selectbox(key="forecast_category").value in categories


def test_a_filter_with_no_rows_says_so(app_env, snapshot):
    pairs = _sql(snapshot, """SELECT c.channel, s.store_id
                              FROM (SELECT DISTINCT channel FROM marts.fct_orders) c,
                                   (SELECT DISTINCT store_id FROM marts.fct_orders) s
                              WHERE NOT EXISTS (SELECT 1 FROM marts.fct_orders o
                                                WHERE o.channel = c.channel AND o.store_id = s.store_id)
                              ORDER BY 1, 2 LIMIT 1""")
    assert pairs, "the demo has a channel a store never sells through (a warehouse at a till)"
    channel, store = pairs[0]
    at = _open(channel=channel, store=store)
    assert _metric(at, "Orders") == "0"
    assert "No orders in this period" in at.info[0].value


def test_a_new_snapshot_shows_on_the_next_run_without_a_restart(snapshot, tmp_path, monkeypatch):
    published = tmp_path / SNAPSHOT_NAME
    shutil.copy(snapshot, published)
    monkeypatch.setenv("SMARTMALL_MARTS_SNAPSHOT", str(published))
    at = _open()
    before = _metric(at, "Orders")
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(snapshot.parent.parent / "warehouse" / "smartmall.duckdb", warehouse)
    writer = duckdb.connect(str(warehouse))
    writer.execute("DELETE FROM marts.fct_orders WHERE order_date = (SELECT max(order_date) FROM marts.fct_orders)")
    publish(writer, published)  # what the next `smartmall run` does
    writer.close()
    at.run()
    assert not at.exception
    assert _metric(at, "Orders") != before


def test_no_snapshot_yet_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTMALL_MARTS_SNAPSHOT", str(tmp_path / "missing.duckdb"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "smartmall demo" in at.info[0].value


def test_a_missing_mart_is_a_message_not_a_traceback(snapshot, tmp_path, monkeypatch):
    thin = tmp_path / "thin.duckdb"
    shutil.copy(snapshot, thin)
    con = duckdb.connect(str(thin))
    con.execute("DROP TABLE marts.association_rules")
    con.close()
    monkeypatch.setenv("SMARTMALL_MARTS_SNAPSHOT", str(thin))
    at = _open("pages/basket.py")
    assert "missing" in at.info[0].value and "smartmall run" in at.info[0].value


def test_readers_never_block_the_pipeline_and_see_a_new_snapshot_at_once(snapshot, tmp_path):
    """The warehouse stays writable while a page reads (it reads the snapshot), and publishing a new
    snapshot while a reader holds the old one open works; the next query sees the new one."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(snapshot.parent.parent / "warehouse" / "smartmall.duckdb", warehouse)
    published = tmp_path / SNAPSHOT_NAME
    writer = duckdb.connect(str(warehouse))
    publish(writer, published)
    reader = duckdb.connect(str(published), read_only=True)  # a page mid-query
    before = reader.execute("SELECT count(*) FROM marts.fct_orders").fetchall()[0][0]
    writer.execute("DELETE FROM marts.fct_orders WHERE order_date = (SELECT max(order_date) FROM marts.fct_orders)")
    publish(writer, published)  # the next run publishes while the reader still reads
    assert reader.execute("SELECT count(*) FROM marts.fct_orders").fetchall()[0][0] == before
    reader.close()
    writer.close()
    fresh = duckdb.connect(str(published), read_only=True)
    assert fresh.execute("SELECT count(*) FROM marts.fct_orders").fetchall()[0][0] < before
    fresh.close()


def test_segment_rules_refuse_what_they_cannot_mean():
    with pytest.raises(ValueError, match="unknown tag"):
        SegmentRule(tags=("rich",))
    with pytest.raises(ValueError, match="whole number"):
        SegmentRule(min_orders=-1)
    with pytest.raises(ValueError, match="unknown rule field"):
        SegmentRule.from_dict({"rfm_segments": ["Champions"], "drop_table": 1})
    assert SegmentRule.from_dict({"rfm_segments": ["Lost"]}).rfm_segments == ("Lost",)
