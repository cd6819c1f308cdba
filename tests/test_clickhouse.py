"""ClickHouse as the warehouse, on the embedded engine (chdb through clickhouse-connect): the raw
tables generated from the contract, ingestion with the same rules and quarantine as on DuckDB, a
re-ingested feed day that changes nothing, and dbt-clickhouse running on the embedded engine."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from dashboards.clickhouse_sql import to_clickhouse
from data.clickhouse_url import STANDARD_SQL, ClickHouseUrl
from data.contract import TABLES
from pipelines.clickhouse import (
    CONTRACT_TYPES,
    contract_type,
    ensure_raw_schema_clickhouse,
    ingest_table_clickhouse,
    raw_table_ddl,
    register_chdb_driver,
)
from pipelines.ingest import ensure_raw_schema, ingest_table
from pipelines.warehouse import dbt_executable
from tests.helpers import REPO, run_cli

FEEDS = ["stores", "products", "customers", "transactions", "events"]


@pytest.fixture(scope="module")
def client(chdb_path):
    c = ClickHouseUrl.parse(f"chdb://{chdb_path}").client()
    ensure_raw_schema_clickhouse(c)
    return c


@pytest.fixture(scope="module")
def landing(small_landing, tmp_path_factory) -> Path:
    """The small synthetic feeds, plus one event of the first day sent again in a file of a later day."""
    out = tmp_path_factory.mktemp("ch") / "landing"
    shutil.copytree(small_landing, out)
    days = sorted(p.name for p in (out / "events").iterdir() if p.name.startswith("date="))
    con = duckdb.connect()
    first = next((out / "events" / days[0]).glob("*.parquet"))
    con.execute(f"COPY (SELECT * FROM read_parquet('{first}') LIMIT 1) TO "
                f"'{out / 'events' / days[-1] / 'resent.parquet'}' (FORMAT parquet)")
    return out


@pytest.fixture(scope="module")
def both(client, landing) -> tuple[duckdb.DuckDBPyConnection, object]:
    """The same feeds ingested into DuckDB and into ClickHouse."""
    con = duckdb.connect()
    ensure_raw_schema(con)
    for feed in FEEDS:
        duck, house = ingest_table(con, feed, landing), ingest_table_clickhouse(client, feed, landing)
        assert (house.rows_in, house.accepted, house.quarantined, house.quarantined_by_rule) == (
            duck.rows_in, duck.accepted, duck.quarantined, duck.quarantined_by_rule), feed
    return con, client


def test_the_raw_tables_are_mergetree_by_month_ordered_by_the_key(client):
    rows = {name: (engine, partition, order) for name, engine, partition, order in client.query(
        "SELECT name, engine, partition_key, sorting_key FROM system.tables WHERE database = 'raw'").result_rows}
    assert rows["transactions"] == ("MergeTree", "toYYYYMM(ordered_at)", "order_id, line_number")
    assert rows["events"] == ("MergeTree", "toYYYYMM(occurred_at)", "event_id")
    assert rows["products"][0] == "MergeTree" and rows["quarantine"][2] == "source_table, _batch"
    on_cluster = raw_table_ddl(TABLES["events"], cluster="shop", retention_days=365)
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/raw/events', '{replica}')" in on_cluster[0]
    assert "TTL toDateTime(`occurred_at`) + INTERVAL 365 DAY" in on_cluster[0]
    assert "Distributed(`shop`, raw, `events_local`, cityHash64(`event_id`))" in on_cluster[1]


def test_the_same_feeds_give_the_same_raw_tables_and_quarantine_on_both_engines(both):
    con, client = both
    for feed in FEEDS:
        assert client.query(f"SELECT count() FROM raw.{feed}").result_rows[0][0] == \
            con.execute(f"SELECT count(*) FROM raw.{feed}").fetchone()[0], feed
    daily = "SELECT CAST(ordered_at AS DATE) AS d, round(sum(quantity * unit_price), 2) FROM raw.transactions " \
            "GROUP BY d ORDER BY d"
    assert [(d, v) for d, v in client.query(daily).result_rows] == con.execute(daily).fetchall()
    by_rule = "SELECT source_table, rule, count(*) FROM raw.quarantine GROUP BY ALL ORDER BY ALL"
    assert [tuple(r) for r in client.query(by_rule.replace("GROUP BY ALL ORDER BY ALL", "GROUP BY 1, 2 "
                                                            "ORDER BY 1, 2")).result_rows] == con.execute(by_rule).fetchall()
    # the event sent again on a later day is a duplicate on both engines, with its file named
    resent = "SELECT count(*) FROM raw.quarantine WHERE rule = 'duplicate_key' AND _source_file LIKE '%resent.parquet'"
    assert client.query(resent).result_rows[0][0] == con.execute(resent).fetchone()[0] == 1


def test_reingesting_a_feed_day_changes_nothing(both, landing):
    con, client = both
    day = sorted(p.name.removeprefix("date=") for p in (landing / "events").iterdir())[-1]
    counts = "SELECT (SELECT count() FROM raw.events), (SELECT count() FROM raw.quarantine), " \
             "(SELECT count() FROM raw.ingest_log)"
    before = client.query(counts).result_rows
    again = ingest_table_clickhouse(client, "events", landing, [day])
    assert again.batches == 1 and again.quarantined_by_rule.get("duplicate_key") == 1
    assert client.query(counts).result_rows == before


def test_dbt_clickhouse_runs_on_the_embedded_engine(both, chdb_path, tmp_path):
    """One model over the raw transactions, built by dbt-clickhouse through the registered chdb driver."""
    from dbt.cli.main import dbtRunner

    _, client = both
    url = ClickHouseUrl.parse(f"chdb://{chdb_path}")
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(yaml.safe_dump({"name": "ch", "version": "1.0", "profile": "ch",
                                                             "models": {"ch": {"+materialized": "table"}}}))
    (project / "profiles.yml").write_text(yaml.safe_dump({"ch": {"target": "t", "outputs": {
        "t": url.dbt_output(schema="ch_marts")}}}))
    (project / "models" / "sales_daily.sql").write_text(
        "select {{ dbt.cast('ordered_at', api.Column.translate_type('date')) }} as sale_date, "
        "sum(quantity * unit_price) as revenue from raw.transactions group by sale_date")
    register_chdb_driver()
    result = dbtRunner().invoke(["run", "--project-dir", str(project), "--profiles-dir", str(project)])
    assert result.success, result.exception
    built = client.query("SELECT count(), round(sum(revenue), 2) FROM ch_marts.sales_daily").result_rows[0]
    expected = client.query("SELECT uniqExact(toDate(ordered_at)), round(sum(quantity * unit_price), 2) "
                            "FROM raw.transactions").result_rows[0]
    assert built == expected and built[0] > 0


def test_clickhouse_urls_name_the_engine_or_the_server():
    embedded = ClickHouseUrl.parse("chdb:///var/lib/smartmall/ch")
    assert embedded.path == Path("/var/lib/smartmall/ch") and embedded.dbt_output()["driver"] == "chdb"
    server = ClickHouseUrl.parse("https://analyst:p%40ss@ch.example.com/shop?cluster=main")
    assert (server.host, server.port, server.user, server.password, server.database, server.secure,
            server.cluster) == ("ch.example.com", 8443, "analyst", "p@ss", "shop", True, "main")
    assert server.dbt_output() | {"password": ""} == {
        "type": "clickhouse", "schema": "marts", "user": "analyst", "password": "", "cluster": "main",
        "cluster_mode": True, "driver": "http", "host": "ch.example.com", "port": 8443, "secure": True}
    for bad in ("chdb://relative/path", "tcp://host:9000", "clickhouse.example.com"):
        with pytest.raises(ValueError):
            ClickHouseUrl.parse(bad)


def test_the_cli_refuses_clickhouse_without_a_usable_url(small_landing, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(small_landing, home / "landing")
    for url, says in ((None, "needs CLICKHOUSE_URL"), ("tcp://host:9000", "chdb:///abs/path")):
        env = {"SMARTMALL_WAREHOUSE": "clickhouse"} | ({"CLICKHOUSE_URL": url} if url else {})
        proc = run_cli(home, "run", env=env, unset=("CLICKHOUSE_URL",), check=False)
        assert proc.returncode != 0 and says in proc.stderr and "Traceback" not in proc.stderr


def test_the_contract_types_are_one_table_for_dbt_and_python():
    """dbt/macros/contract_types_clickhouse.sql and pipelines.clickhouse.CONTRACT_TYPES translate alike."""
    import re

    macro = (Path(__file__).parent.parent / "dbt" / "macros" / "contract_types_clickhouse.sql").read_text()
    pairs = dict(re.findall(r"'(\w+)': '([\w()0-9]+)'", macro[macro.index("{%- set names"):]))
    assert pairs == CONTRACT_TYPES
    assert contract_type("varchar[]") == "Array(String)" and contract_type("double") == "Nullable(Float64)"
    with pytest.raises(ValueError):
        contract_type("hugeint")


def test_a_session_reads_marts_in_and_writes_model_outputs_back_whole(both, chdb_path):
    """What a model step sees on ClickHouse: the marts it reads in a DuckDB session; what it writes replaces
    the ClickHouse table whole, typed by the mart's contract; the model checks run on it there."""
    from pipelines.assets.model_checks import _values_check
    from pipelines.warehouse import Warehouse

    _, client = both
    warehouse = Warehouse(kind="clickhouse", clickhouse_url=f"chdb://{chdb_path}")
    rows = [("A", "S1", "2025-03-03", 4.0, 2.0, 6.0, 1.0, 9.0), ("B", "S1", "2025-03-03", 4.0, 5.0, 6.0, 1.0, 9.0)]
    for kept in (rows, rows[:1]):  # the second write replaces the first
        with warehouse.session(reads=["raw.transactions"], writes=["model_outputs.forecasts"]) as con:
            assert con.execute("SELECT count(*) FROM raw.transactions").fetchall()[0][0] == \
                client.query("SELECT count() FROM raw.transactions").result_rows[0][0]
            con.execute("CREATE SCHEMA model_outputs")
            con.execute("CREATE TABLE model_outputs.forecasts (sku VARCHAR, location_id VARCHAR, week_start DATE, "
                        "forecast_units DOUBLE, lower_units DOUBLE, upper_units DOUBLE, lower_95_units DOUBLE, "
                        "upper_95_units DOUBLE)")
            con.executemany("INSERT INTO model_outputs.forecasts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", kept)
        assert client.query("SELECT count() FROM model_outputs.forecasts").result_rows[0][0] == len(kept)
    types = dict(client.query("SELECT name, type FROM system.columns WHERE database = 'model_outputs' "
                              "AND table = 'forecasts'").result_rows)
    assert types["week_start"] == "Nullable(Date32)" and types["forecast_units"] == "Nullable(Float64)"
    assert "generated_at" in types  # every column of the contract, the ones the step left out empty
    assert _values_check("forecasts")(warehouse=warehouse).passed
    with warehouse.session(writes=["model_outputs.forecasts"]) as con:  # a lower bound above the forecast
        con.execute("CREATE SCHEMA model_outputs")
        con.execute("CREATE TABLE model_outputs.forecasts AS SELECT 'B' AS sku, 'S1' AS location_id, "
                    "DATE '2025-03-03' AS week_start, 4.0 AS forecast_units, 5.0 AS lower_units, 6.0 AS upper_units, "
                    "1.0 AS lower_95_units, 9.0 AS upper_95_units")
    assert not _values_check("forecasts")(warehouse=warehouse).passed


def test_on_a_cluster_the_big_marts_are_distributed_from_their_own_config(tmp_path):
    """With a cluster name the same model config makes the big marts Distributed over replicated shards
    (incremental ones too) and every other mart replicated; on one server, plain MergeTree tables."""
    import json

    def configs(cluster: str) -> dict[str, dict]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTMALL_")} | {
            "SMARTMALL_WAREHOUSE": "clickhouse", "SMARTMALL_CH_HOST": "ch.example.com", "SMARTMALL_CH_CLUSTER": cluster}
        proc = subprocess.run([dbt_executable(), "ls", "--profiles-dir", ".", "--target-path", str(tmp_path / cluster),
                               "--resource-type", "model", "--select", "fct_events fct_sales_daily dim_store",
                               "--output", "json", "--output-keys", "name config"],
                              cwd=REPO / "dbt", env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:]
        rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        return {row["name"]: row["config"] for row in rows}

    cluster, single = configs("main"), configs("")
    assert cluster["fct_events"]["materialized"] == "distributed_incremental"
    assert cluster["fct_events"]["sharding_key"] == "cityHash64(session_id)"
    assert cluster["fct_sales_daily"]["materialized"] == "distributed_table"
    assert {c["engine"] for c in cluster.values()} == {"ReplicatedMergeTree"}
    assert cluster["dim_store"]["materialized"] == "table"
    assert single["fct_events"]["materialized"] == "incremental" and single["fct_sales_daily"]["materialized"] == "table"
    assert single["fct_sales_daily"]["partition_by"] == "toYYYYMM(sale_date)"
    assert {c["engine"] for c in single.values()} == {"MergeTree()"}


@pytest.fixture(scope="module")
def probe_tables(client) -> duckdb.DuckDBPyConnection:
    """The same small table on both engines, ``probe.t``, for the dashboards' SQL translation."""
    rows = [("a", 1.0, "2026-03-01 10:00:00"), ("a", 2.0, "2026-03-01 09:00:00"), ("b", 10.0, "2026-03-01 08:00:00"),
            ("b", 4.0, "2026-03-01 11:00:00"), ("c", 7.0, "2026-03-02 10:00:00"), ("it's", 3.0, "2026-03-02 11:00:00")]
    client.command("CREATE DATABASE IF NOT EXISTS probe")
    client.command("CREATE OR REPLACE TABLE probe.t (k String, x Float64, ts DateTime64(6)) ENGINE = MergeTree "
                   "ORDER BY k")
    client.command("INSERT INTO probe.t VALUES " + ", ".join(f"('{k.replace(chr(39), chr(92) + chr(39))}', {x}, '{ts}')"
                                                           for k, x, ts in rows))
    con = duckdb.connect()
    con.execute("CREATE SCHEMA probe; CREATE TABLE probe.t (k VARCHAR, x DOUBLE, ts TIMESTAMP)")
    con.executemany("INSERT INTO probe.t VALUES (?, ?, ?)", rows)
    return con


@pytest.mark.parametrize("sql, params", [
    # DuckDB's exact median and quantile_cont (ClickHouse's own median samples)
    ("SELECT median(x) AS m, quantile_cont(x, 0.75) AS q FROM probe.t", []),
    # a CTE's parameter comes before the main query's, as written
    ("WITH w AS (SELECT k, x FROM probe.t WHERE x > ?) SELECT k, sum(x) AS s FROM w WHERE k <> ? GROUP BY 1 "
     "ORDER BY 1", [1.5, "c"]),
    # an ORDER BY name is the select alias first (a column of the same name in ClickHouse)
    ("SELECT k, sum(x) AS x, count(*) FILTER (WHERE x > 2) AS big FROM probe.t GROUP BY 1 ORDER BY x DESC, k", []),
    # list(... ORDER BY ...)[a:b], array_to_string, range
    ("SELECT ts::DATE AS day, array_to_string(list(k ORDER BY ts)[1:2], '>') AS path, "
     "array_to_string(list(k ORDER BY ts DESC), '>') AS back FROM probe.t GROUP BY 1 ORDER BY 1", []),
    ("WITH steps AS (SELECT unnest(range(3)) AS step) SELECT step, count(*) FILTER (WHERE x >= step * 4) AS n "
     "FROM probe.t, steps GROUP BY ALL ORDER BY 1", []),
    ("SELECT date_trunc('week', ts)::DATE AS week, sum(x)::DOUBLE AS x FROM probe.t WHERE ts::DATE BETWEEN ? AND ? "
     "GROUP BY 1 ORDER BY 1", [date(2026, 3, 1), date(2026, 3, 2)]),
    # a value is a literal in the parsed query, never SQL
    ("SELECT count(*) AS n FROM probe.t WHERE k = ?", ["it's"]),
    ("SELECT count(*) AS n FROM probe.t WHERE k = ?", ["a' OR '1'='1"]),
])
def test_the_dashboards_sql_means_the_same_on_clickhouse(client, probe_tables, sql, params):
    duck = probe_tables.sql(sql, params=params).pl()
    house = pl.from_arrow(client.query_arrow(to_clickhouse(sql, params), settings=STANDARD_SQL))
    assert duck.height > 0
    assert_frame_equal(duck, house, check_dtypes=False, abs_tol=1e-9)


def test_a_wrong_number_of_parameters_is_refused():
    with pytest.raises(ValueError, match="2 parameters, 1 given"):
        to_clickhouse("SELECT 1 WHERE ? < ?", [1])
