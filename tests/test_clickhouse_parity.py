"""The same platform on both engines: ``smartmall demo --scale small`` with SMARTMALL_WAREHOUSE=duckdb
and with SMARTMALL_WAREHOUSE=clickhouse (the embedded engine) gives the same marts, each engine queried
in its own SQL through ``smartmall sql``; re-running one feed day on ClickHouse changes nothing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.dbt_manifest import queryable_marts
from tests.helpers import REPO, run_cli


def _env(kind: str, home: Path) -> dict[str, str]:
    return {"SMARTMALL_WAREHOUSE": kind} | ({"CLICKHOUSE_URL": f"chdb://{home / 'ch'}"} if kind == "clickhouse" else {})


@pytest.fixture(scope="module")
def homes(small_home, tmp_path_factory) -> dict[str, Path]:
    """The README's main job on each engine, same scale and seed: the session's DuckDB demo, and
    ``smartmall demo`` again with SMARTMALL_WAREHOUSE=clickhouse (feeds, pipeline, the commerce API's
    seed, the demo campaign and the marketing job that reads it back)."""
    home = tmp_path_factory.mktemp("parity_clickhouse")
    proc = run_cli(home, "demo", "--scale", "small", "--seed", "7", env=_env("clickhouse", home))
    assert "Demo finished" in proc.stdout and "Ingestion into clickhouse" in proc.stdout, proc.stdout
    return {"duckdb": small_home, "clickhouse": home}


def sql(homes: dict[str, Path], kind: str, query: str) -> pl.DataFrame:
    home = homes[kind]
    return pl.read_csv(io.StringIO(run_cli(home, "sql", "--csv", query, env=_env(kind, home)).stdout))


def both(homes: dict[str, Path], query: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    return sql(homes, "duckdb", query), sql(homes, "clickhouse", query)


def mart_counts(homes: dict[str, Path], kind: str) -> dict[str, int]:
    query = " UNION ALL ".join(f"SELECT '{m}' AS mart, count(*) AS n FROM marts.{m}" for m in queryable_marts())
    return dict(sql(homes, kind, query).rows())


def test_every_mart_has_the_same_rows_on_both_engines(homes):
    duck, house = mart_counts(homes, "duckdb"), mart_counts(homes, "clickhouse")
    assert duck == house
    assert duck["fct_order_lines"] > 10_000 and duck["fct_events"] > 50_000 and duck["association_rules"] > 0


def test_revenue_and_units_per_day_are_the_same(homes):
    duck, house = both(homes, "SELECT sale_date, sum(net_revenue) AS revenue, sum(units_sold) AS units, "
                              "sum(net_units) AS net_units FROM marts.fct_sales_daily GROUP BY 1 ORDER BY 1")
    assert duck.height == house.height > 100
    assert duck["sale_date"].to_list() == house["sale_date"].to_list()
    assert duck["units"].to_list() == house["units"].to_list() and duck["net_units"].to_list() == house["net_units"].to_list()
    assert (duck["revenue"] - house["revenue"]).abs().max() < 1e-6


def test_funnel_steps_are_the_same(homes):
    steps = "sessions, viewed_product, added_to_cart, started_checkout, entered_payment, completed_order"
    query = (f"SELECT funnel_date, channel, {steps} FROM marts.fct_funnel_daily ORDER BY funnel_date, channel")
    duck, house = both(homes, query)
    assert duck.height > 0 and duck.equals(house)


def test_rfm_segment_sizes_are_the_same(homes):
    query = ("SELECT segment, count(*) AS customers FROM marts.customer_rfm "
             "WHERE as_of = (SELECT max(as_of) FROM marts.customer_rfm) GROUP BY 1 ORDER BY 1")
    duck, house = both(homes, query)
    assert duck.height >= 3 and duck.equals(house)


def test_the_top_ten_association_rules_are_the_same(homes):
    # ties in lift are broken by support, then by the items, so the ten are one set on both engines
    query = ("SELECT antecedents, consequents, round(support, 9) AS support, round(confidence, 9) AS confidence, "
             "round(lift, 9) AS lift FROM marts.association_rules ORDER BY lift DESC, support DESC, "
             "antecedents, consequents LIMIT 10")
    duck, house = both(homes, query)
    assert duck.height == 10
    assert duck.drop("antecedents", "consequents").equals(house.drop("antecedents", "consequents"))
    for column in ("antecedents", "consequents"):  # lists, as JSON
        assert [sorted(json.loads(x)) for x in duck[column]] == [sorted(json.loads(x)) for x in house[column]]


def _dashboard_answers(home: Path, env: dict[str, str], out: Path) -> dict[str, pl.DataFrame]:
    """Every query the dashboards' pages make (``tests/dashboard_probe.py``), in a process of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTMALL_")} | env | {"SMARTMALL_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "tests.dashboard_probe", str(out)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {f.stem: pl.read_parquet(f) for f in sorted(out.glob("*.parquet"))}


def test_every_dashboard_query_gives_the_same_answer_on_clickhouse_as_on_the_snapshot(homes, tmp_path):
    """The pages' queries sent to ClickHouse's marts themselves (translated from DuckDB's SQL, what
    they do on a ClickHouse server) answer as they do on the DuckDB demo's snapshot: same rows, same
    values (in a stable order: the pages sort, ties aside)."""
    duck = _dashboard_answers(homes["duckdb"], {}, tmp_path / "duckdb")
    house = _dashboard_answers(homes["clickhouse"], _env("clickhouse", homes["clickhouse"])
                               | {"SMARTMALL_DASHBOARDS_SOURCE": "clickhouse"}, tmp_path / "clickhouse")
    assert len(duck) >= 79 and duck.keys() == house.keys()
    assert sum(not frame.is_empty() for frame in duck.values()) >= 70
    for name, frame in duck.items():
        other = house[name]
        assert frame.columns == other.columns, name
        try:
            assert_frame_equal(frame.sort(frame.columns, nulls_last=True), other.sort(other.columns, nulls_last=True),
                               check_dtypes=False, abs_tol=1e-6)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def test_the_big_marts_on_clickhouse_are_partitioned_by_month_and_sorted_by_date(homes):
    layout = sql(homes, "clickhouse", "SELECT name, engine, partition_key, sorting_key FROM system.tables "
                                      "WHERE database = 'marts' AND partition_key != '' ORDER BY name")
    tables = {row["name"]: row for row in layout.iter_rows(named=True)}
    assert {"fct_events", "fct_sessions", "fct_order_lines", "fct_orders", "fct_sales_daily",
            "fct_inventory_daily"} <= tables.keys()
    assert tables["fct_sales_daily"]["partition_key"] == "(toYYYYMM(sale_date))"
    assert tables["fct_sales_daily"]["sorting_key"] == "sale_date, store_id, sku"
    assert tables["fct_events"]["sorting_key"] == "event_date, session_id"
    assert all(row["engine"] == "MergeTree" for row in tables.values())


def test_re_running_one_feed_day_on_clickhouse_changes_nothing(homes):
    home = homes["clickhouse"]
    day = sorted(p.name.removeprefix("date=") for p in (home / "landing" / "events").iterdir())[-10]
    revenue = "SELECT sum(net_revenue) AS r FROM marts.fct_order_lines"

    def run_day() -> tuple[dict[str, int], float]:
        proc = run_cli(home, "run", "--start", day, "--end", day, env=_env("clickhouse", home))
        assert "Pipeline succeeded" in proc.stdout
        return mart_counts(homes, "clickhouse"), sql(homes, "clickhouse", revenue)["r"][0]

    # the first run also builds the marts over what the demo's campaign left in raw (its orders, events)
    first, again = run_day(), run_day()
    assert again[0] == first[0] and again[1] == pytest.approx(first[1], abs=1e-6)
    assert first[0]["fct_shipments"] > 0  # the campaign's API orders are in
