"""ClickHouse as the warehouse (``SMARTMALL_WAREHOUSE=clickhouse``): the client, the raw tables and ingestion.

Everything goes through ``clickhouse-connect``; ``CLICKHOUSE_URL`` names the engine
(``data.clickhouse_url``).

Raw tables are MergeTree, partitioned by the month of the feed's time column and ordered by the
contract's key; with a cluster name they are ``ReplicatedMergeTree`` on every shard behind a
``Distributed`` table of the same name (sharded by the key's hash), the DDL generated from the same
contract. Ingestion keeps one set of rules: each batch is validated by the same code as on DuckDB
(``pipelines.ingest.ingest_table``, in a scratch in-memory DuckDB that also holds the catalogue's and
the stores' keys and the keys ClickHouse already has for the batch's records, so an unknown SKU is
still unknown and a re-sent record still a duplicate), then its accepted
rows, quarantine rows and log replace what that batch loaded before. Re-ingesting a feed day
changes nothing.

dbt-clickhouse 1.10.3 speaks only ``http`` and ``native``, both to a server. ``register_chdb_driver``
adds a ``chdb`` driver: dbt-clickhouse's own HTTP client wrapper with its clickhouse-connect client
made from the ``chdb://`` DSN (clickhouse-connect's pluggable chdb backend), about fifteen lines
rather than a fork of the adapter (upstream pull request ClickHouse/dbt-clickhouse #693 does the same
inside it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import clickhouse_connect
import duckdb
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from data.contract import MAX_ABS_QUANTITY, TABLES, Table
from pipelines.dbt_manifest import contract_column_types
from pipelines.ingest import IngestReport, ensure_raw_schema, ingest_table

_TYPES = {"VARCHAR": "String", "INTEGER": "Int32", "BIGINT": "Int64", "DOUBLE": "Float64", "BOOLEAN": "Bool",
          "DATE": "Date32", "TIMESTAMP": "DateTime64(6)", "JSON": "String"}
_DUPLICATES_BATCH = "_already_in_clickhouse"


def register_chdb_driver() -> None:
    """Teach dbt-clickhouse a ``chdb`` driver (see the module docstring). Idempotent."""
    from dbt.adapters.clickhouse import connections
    from dbt.adapters.clickhouse.httpclient import ChHttpClient

    if getattr(connections.get_db_client, "smartmall_chdb", False):
        return

    class ChdbClient(ChHttpClient):
        def _create_client(self, credentials: Any) -> Client:
            return clickhouse_connect.get_client(dsn=f"chdb://{credentials.host}", settings=self._conn_settings)

    server_client = connections.get_db_client

    def get_db_client(credentials: Any) -> Any:
        return ChdbClient(credentials) if credentials.driver == "chdb" else server_client(credentials)

    get_db_client.smartmall_chdb = True  # type: ignore[attr-defined]
    connections.get_db_client = get_db_client


def raw_table_ddl(table: Table, cluster: str | None = None, retention_days: int | None = None) -> list[str]:
    """``CREATE TABLE`` statements for ``raw.<table>``: MergeTree by month of the time column, ordered by
    the key; on a cluster, ReplicatedMergeTree shards behind a Distributed table; ``retention_days``
    adds a TTL on the time column (raw events a retailer keeps for a year, say)."""
    required = {c.name for c in table.columns if c.required} | set(table.key)
    columns = [f"`{c.name}` {_column_type(c.sql_type, c.name in required)}" for c in table.columns]
    columns += ["`_batch` String", "`_source_file` String", "`_ingested_at` DateTime64(6)"]
    partition = f"toYYYYMM(`{table.time_column}`)" if table.daily else "tuple()"
    order = ", ".join(f"`{k}`" for k in table.key)
    order_by = order if len(table.key) == 1 else f"({order})"
    ttl = (f" TTL toDateTime(`{table.time_column}`) + INTERVAL {int(retention_days)} DAY"
           if retention_days and table.daily else "")
    body = ", ".join(columns)
    if not cluster:
        return [f"CREATE TABLE IF NOT EXISTS raw.`{table.name}` ({body}) ENGINE = MergeTree "
                f"PARTITION BY {partition} ORDER BY {order_by}{ttl}"]
    on = f" ON CLUSTER `{cluster}`"
    return [
        f"CREATE TABLE IF NOT EXISTS raw.`{table.name}_local`{on} ({body}) ENGINE = ReplicatedMergeTree("
        f"'/clickhouse/tables/{{shard}}/raw/{table.name}', '{{replica}}') PARTITION BY {partition} "
        f"ORDER BY {order_by}{ttl}",
        f"CREATE TABLE IF NOT EXISTS raw.`{table.name}`{on} AS raw.`{table.name}_local` ENGINE = "
        f"Distributed(`{cluster}`, raw, `{table.name}_local`, cityHash64({order}))",
    ]


# A contract's declared types (DuckDB's spelling, in the marts' .yml) as ClickHouse types: the same
# table as dbt/macros/contract_types_clickhouse.sql, for the model outputs written from Python.
CONTRACT_TYPES = {"varchar": "String", "text": "String", "double": "Float64", "float": "Float32", "integer": "Int32",
                  "int": "Int32", "bigint": "Int64", "smallint": "Int16", "tinyint": "Int8", "uinteger": "UInt32",
                  "ubigint": "UInt64", "boolean": "Bool", "date": "Date32", "timestamp": "DateTime64(6)",
                  # as a manifest parsed for ClickHouse has some of them already
                  "string": "String", "float64": "Float64", "int32": "Int32", "int64": "Int64", "int8": "Int8",
                  "uint32": "UInt32", "bool": "Bool", "datetime": "DateTime64(6)"}


def contract_type(declared: str, nullable: bool = True) -> str:
    """``varchar`` -> ``Nullable(String)``, ``varchar[]`` -> ``Array(String)``."""
    t = declared.strip().lower()
    if t.endswith("[]"):
        return f"Array({contract_type(t[:-2], nullable=False)})"
    if t not in CONTRACT_TYPES:
        raise ValueError(f"no ClickHouse type for the contract type {declared!r}")
    return f"Nullable({CONTRACT_TYPES[t]})" if nullable else CONTRACT_TYPES[t]


def small_table_engine(cluster: str | None) -> str:
    """A table every node holds whole (model outputs, the commerce copies): MergeTree, or on a cluster
    ReplicatedMergeTree with one replica set across all nodes (its path from the table's UUID)."""
    engine = "ReplicatedMergeTree('/clickhouse/tables/{uuid}', '{replica}')" if cluster else "MergeTree"
    return f"ENGINE = {engine} ORDER BY tuple()"


def model_output_ddl(target: str, mart: str, cluster: str | None = None) -> str:
    """``CREATE TABLE target`` with the columns of ``mart``'s enforced contract."""
    on = f" ON CLUSTER `{cluster}`" if cluster else ""
    columns = ", ".join(f"`{name}` {contract_type(declared)}" for name, declared in contract_column_types(mart))
    return f"CREATE TABLE {target}{on} ({columns}) {small_table_engine(cluster)}"


def arrow_table_ddl(target: str, schema: pa.Schema, cluster: str | None = None) -> str:
    """``CREATE TABLE target`` for rows of this Arrow schema (every column Nullable but lists)."""
    on = f" ON CLUSTER `{cluster}`" if cluster else ""
    columns = ", ".join(f"`{f.name}` {_arrow_type(f.type)}" for f in schema)
    return f"CREATE TABLE {target}{on} ({columns}) {small_table_engine(cluster)}"


def _arrow_type(t: pa.DataType, nullable: bool = True) -> str:
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"Array({_arrow_type(t.value_type, nullable=False)})"
    if pa.types.is_timestamp(t):
        kind = "DateTime64(6)"
    elif pa.types.is_decimal(t):
        kind = f"Decimal({t.precision}, {t.scale})"
    else:
        kind = _ARROW_TYPES[str(t)]
    return f"Nullable({kind})" if nullable else kind


_ARROW_TYPES = {"string": "String", "large_string": "String", "bool": "Bool", "int8": "Int8", "int16": "Int16",
                "int32": "Int32", "int64": "Int64", "uint8": "UInt8", "uint16": "UInt16", "uint32": "UInt32",
                "uint64": "UInt64", "float": "Float32", "double": "Float64", "date32[day]": "Date32"}


def _column_type(sql_type: str, required: bool) -> str:
    kind = _TYPES[sql_type.upper()]
    return kind if required else f"Nullable({kind})"


_META_DDL = {
    "quarantine": "`source_table` String, `_batch` String, `_source_file` String, `source_row` Int64, "
                  "`rule` String, `reason` String, `record` String, `_ingested_at` DateTime64(6)",
    "ingest_log": "`source_table` String, `_batch` String, `files` Int32, `rows_in` Int64, `accepted` Int64, "
                  "`quarantined` Int64, `_ingested_at` DateTime64(6)",
}


def ensure_raw_schema_clickhouse(client: Client, cluster: str | None = None,
                                 retention_days: int | None = None) -> None:
    """The raw tables of the contract, the quarantine and the ingest log (ordered by table and batch)."""
    client.command("CREATE DATABASE IF NOT EXISTS raw" + (f" ON CLUSTER `{cluster}`" if cluster else ""))
    for table in TABLES.values():
        for statement in raw_table_ddl(table, cluster, retention_days if table.name == "events" else None):
            client.command(statement)
    for name, columns in _META_DDL.items():
        client.command(f"CREATE TABLE IF NOT EXISTS raw.`{name}` ({columns}) ENGINE = MergeTree "
                       "ORDER BY (source_table, _batch)")


def ingest_table_clickhouse(client: Client, table_name: str, landing: Path, batches: list[str] | None = None,
                            max_line_quantity: int = MAX_ABS_QUANTITY, fallback_encoding: str | None = None,
                            inspect: Callable[[duckdb.DuckDBPyConnection, list[str]], None] | None = None,
                            ) -> IngestReport:
    """``pipelines.ingest.ingest_table`` with ClickHouse as the warehouse: the same rules, the same
    quarantine, the same report; the batches replace what they loaded before. ``inspect(scratch,
    batches)`` sees the validated rows before they are let go (the great-expectations suite)."""
    table = TABLES[table_name]
    scratch = duckdb.connect()
    try:
        ensure_raw_schema(scratch)
        for ref in table.references:  # the rules look up the catalogue and the stores
            key = TABLES[ref].key[0]
            keys = client.query_arrow(f"SELECT DISTINCT `{key}` FROM raw.`{ref}`")
            scratch.register("ref_keys", keys)
            scratch.execute(f'INSERT INTO raw.{ref} ("{key}") SELECT "{key}" FROM ref_keys')
            scratch.unregister("ref_keys")
        report = ingest_table(scratch, table_name, landing, batches, max_line_quantity, fallback_encoding)
        if not report.batches:
            return report
        loaded = [b for (b,) in scratch.execute("SELECT DISTINCT _batch FROM raw.ingest_log").fetchall()]
        if _hold_keys_already_loaded(client, scratch, table, loaded):
            # a record ClickHouse holds from another batch is a duplicate: validate again knowing them
            report = ingest_table(scratch, table_name, landing, batches, max_line_quantity, fallback_encoding)
        _replace_batches(client, scratch, table, loaded)
        if inspect is not None:
            inspect(scratch, loaded)
        return report
    finally:
        scratch.close()


def _hold_keys_already_loaded(client: Client, scratch: duckdb.DuckDBPyConnection, table: Table,
                              loaded: list[str]) -> int:
    """Copy into the scratch table the keys of the accepted records that ClickHouse already holds from
    other batches (under a batch of their own); returns how many."""
    key = ", ".join(f"`{k}`" for k in table.key)
    incoming = scratch.sql(f"SELECT DISTINCT {key} FROM raw.{table.name} WHERE _batch <> ?",
                           params=[_DUPLICATES_BATCH]).to_arrow_table()
    if incoming.num_rows == 0:
        return 0
    scratch_keys = f"_incoming_{table.name}"
    client.command(f"DROP TEMPORARY TABLE IF EXISTS {scratch_keys}")
    client.command(f"CREATE TEMPORARY TABLE {scratch_keys} AS SELECT {key} FROM raw.`{table.name}` LIMIT 0")
    client.insert_arrow(scratch_keys, incoming)
    held = client.query_arrow(
        f"SELECT {key} FROM raw.`{table.name}` WHERE _batch NOT IN %(loaded)s AND ({key}) IN "
        f"(SELECT {key} FROM {scratch_keys})", parameters={"loaded": loaded})
    client.command(f"DROP TEMPORARY TABLE IF EXISTS {scratch_keys}")
    if held.num_rows:
        scratch.register("held_keys", held)
        scratch.execute(f"INSERT INTO raw.{table.name} ({key.replace('`', '')}, _batch) "
                        f"SELECT {key.replace('`', '')}, '{_DUPLICATES_BATCH}' FROM held_keys")
        scratch.unregister("held_keys")
    return held.num_rows


def _replace_batches(client: Client, scratch: duckdb.DuckDBPyConnection, table: Table, loaded: list[str]) -> None:
    """Delete what the batches loaded before, then insert them again: rows, quarantine, log.

    Not one transaction (ClickHouse has none across tables): a load killed in between leaves the
    batch short until it is loaded again, which puts it right."""
    where = {"loaded": loaded, "table": table.name}
    client.command(f"DELETE FROM raw.`{table.name}` WHERE _batch IN %(loaded)s", parameters=where,
                   settings={"lightweight_deletes_sync": 2})
    for meta in ("quarantine", "ingest_log"):
        client.command(f"DELETE FROM raw.`{meta}` WHERE source_table = %(table)s AND _batch IN %(loaded)s",
                       parameters=where, settings={"lightweight_deletes_sync": 2})
    columns = [*table.column_names, "_batch", "_source_file", "_ingested_at"]
    quoted = ", ".join(f'"{c}"' for c in columns)
    for name, sql in ((table.name, f"SELECT {quoted} FROM raw.{table.name} WHERE _batch <> '{_DUPLICATES_BATCH}'"),
                      ("quarantine", "SELECT * REPLACE (CAST(record AS VARCHAR) AS record) FROM raw.quarantine"),
                      ("ingest_log", "SELECT * FROM raw.ingest_log")):
        rows = scratch.sql(sql).to_arrow_table()
        if rows.num_rows:
            client.insert_arrow(f"raw.`{name}`", rows)
