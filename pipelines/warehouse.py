"""The warehouse every asset reads and writes, picked by ``SMARTMALL_WAREHOUSE``: DuckDB (the embedded
default) or ClickHouse (``CLICKHOUSE_URL``).

The Python steps (models, the commerce read, the serving publish) are written once, as DuckDB SQL and
polars over a DuckDB connection. ``Warehouse.session`` hands them one: on DuckDB the warehouse itself;
on ClickHouse an in-memory DuckDB holding the tables the step reads (copied in Arrow batches), whose
tables the step writes go back to ClickHouse when it succeeds, each built aside and swapped in
(``EXCHANGE TABLES``), so a reader never sees half a table. The heavy work — ingestion of the feeds
and every dbt model — runs in ClickHouse itself; what a session moves is a model's inputs (marts)
and outputs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource

from data.clickhouse_url import ClickHouseUrl
from data.settings import Settings, SettingsError
from pipelines.clickhouse import (
    arrow_table_ddl,
    ensure_raw_schema_clickhouse,
    ingest_table_clickhouse,
    model_output_ddl,
)
from pipelines.ingest import IngestReport, ensure_raw_schema, ingest_table
from pipelines.marts import OUTPUT_SCHEMA

T = TypeVar("T")
DATABASES = ("raw", "staging", "intermediate", "marts", OUTPUT_SCHEMA)  # what the pipeline builds
NON_MART_SCHEMAS = re.compile(r"\b(" + "|".join(d for d in DATABASES if d != "marts") + r")\s*\.", re.IGNORECASE)


class WarehouseBusy(RuntimeError):
    """A read of tables other than the marts while a pipeline run writes the DuckDB warehouse."""


class Warehouse(ConfigurableResource):
    """``kind`` duckdb: ``duckdb_path``; kind clickhouse: ``clickhouse_url``."""

    kind: str = "duckdb"
    duckdb_path: str = ""
    duckdb_memory_limit: str = "4GB"
    clickhouse_url: str = ""
    snapshot_path: str = ""  # the marts snapshot a read falls back on while a run writes the DuckDB file

    @property
    def is_clickhouse(self) -> bool:
        return self.kind == "clickhouse"

    @contextmanager
    def session(self, reads: Iterable[str] = (), writes: Iterable[str] = (),
                prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None
                ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection on which ``reads`` (``schema.table`` names) can be read and ``writes``
        written; ``prepare`` (ClickHouse only) creates tables in it before the reads fill them, for a
        step that needs their keys or constraints (the commerce read's upserts)."""
        if not self.is_clickhouse:
            with DuckDBResource(database=self.duckdb_path,
                                connection_config={"memory_limit": self.duckdb_memory_limit}).get_connection() as con:
                yield con
            return
        writes = list(writes)
        with self.clickhouse() as client:
            scratch = duckdb.connect(config={"memory_limit": self.duckdb_memory_limit})
            try:
                if prepare is not None:
                    prepare(scratch)
                for name in reads:
                    copy_to_duckdb(client, scratch, name)
                yield scratch
                for name in writes:
                    copy_to_clickhouse(scratch, client, name, self.url.cluster)
            finally:
                scratch.close()

    def ingest(self, table_name: str, landing: Path, batches: list[str] | None, max_line_quantity: int,
               validate: Callable[[duckdb.DuckDBPyConnection, list[str] | None], T],
               retention_days: int | None = None, fallback_encoding: str | None = None) -> tuple[IngestReport, T]:
        """Load the landing files of ``batches`` (all when None) into ``raw.<table_name>`` through the
        contract's rules and quarantine; ``validate(con, batches)`` then runs on the rows accepted."""
        if not self.is_clickhouse:
            with self.session() as con:
                report = ingest_table(con, table_name, landing, batches, max_line_quantity, fallback_encoding)
                return report, validate(con, batches)
        validated: list[T] = []
        with self.clickhouse() as client:
            ensure_raw_schema_clickhouse(client, self.url.cluster, retention_days if table_name == "events" else None)
            report = ingest_table_clickhouse(client, table_name, landing, batches, max_line_quantity, fallback_encoding,
                                             inspect=lambda scratch, loaded: validated.append(validate(scratch, loaded)))
        if not validated:  # nothing landed: the suite runs on no rows
            empty = duckdb.connect()
            ensure_raw_schema(empty)
            validated.append(validate(empty, []))
            empty.close()
        return report, validated[0]

    def reset(self) -> None:
        """Start over: the DuckDB file removed, or ClickHouse's databases of the pipeline dropped."""
        if not self.is_clickhouse:
            Path(self.duckdb_path).unlink(missing_ok=True)
            return
        on = f" ON CLUSTER `{self.url.cluster}`" if self.url.cluster else ""
        with self.clickhouse() as client:
            for database in DATABASES:
                client.command(f"DROP DATABASE IF EXISTS `{database}`{on} SYNC")

    def has_data(self) -> bool:
        """Whether a pipeline has loaded anything yet."""
        if not self.is_clickhouse:
            return Path(self.duckdb_path).exists()
        with self.clickhouse() as client:
            return bool(int(client.command("EXISTS TABLE raw.ingest_log")))

    def query(self, sql: str, params: Sequence[object] = ()) -> pl.DataFrame:
        """A read-only query in the warehouse's own SQL (DuckDB's or ClickHouse's), ``?`` for each
        of ``params``."""
        if not self.is_clickhouse:
            con = self._read_connection(sql)
            try:
                return con.sql(sql, params=list(params)).pl()
            finally:
                con.close()
        with self.clickhouse() as client:  # clickhouse-connect binds %s placeholders
            result = client.query_arrow(sql.replace("?", "%s") if params else sql, parameters=list(params) or None,
                                        use_strings=True)
        return pl.from_arrow(_naive_timestamps(result))

    def _read_connection(self, sql: str) -> duckdb.DuckDBPyConnection:
        """The warehouse, read-only; while a pipeline run holds it (DuckDB: one writing process, and
        no reader beside it), the last published marts snapshot for a query of marts only, else
        WarehouseBusy saying so."""
        try:
            return duckdb.connect(self.duckdb_path, read_only=True)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            other = NON_MART_SCHEMAS.search(sql)
            snapshot = Path(self.snapshot_path) if self.snapshot_path else None
            if other or snapshot is None or not snapshot.exists():
                raise WarehouseBusy(
                    "a pipeline run is writing the warehouse (DuckDB lets no reader beside its one writer): "
                    + (f"'{other.group(1)}' tables can be read when it ends" if other else "no marts snapshot yet")
                    + "; the marts can be read meanwhile (their last published snapshot)") from None
            print("smartmall: a pipeline run is writing the warehouse: answered from the marts snapshot of "
                  + datetime.fromtimestamp(snapshot.stat().st_mtime).isoformat(timespec="seconds"), file=sys.stderr)
            return duckdb.connect(str(snapshot), read_only=True)

    @property
    def url(self) -> ClickHouseUrl:
        return ClickHouseUrl.parse(self.clickhouse_url)

    @contextmanager
    def clickhouse(self) -> Iterator[Client]:
        """A client, closed after use: the embedded engine allows one process on its path at a time,
        and dbt runs in a process of its own."""
        client = self.url.client()
        try:
            yield client
        finally:
            client.close()


def _split(name: str) -> tuple[str, str]:
    schema, _, table = name.partition(".")
    if not table:
        raise ValueError(f"{name!r}: name tables as schema.table")
    return schema, table


def copy_to_duckdb(client: Client, con: duckdb.DuckDBPyConnection, name: str) -> int:
    """ClickHouse's ``schema.table`` into ``con`` (into the table if ``con`` has it, else a new one),
    batch by batch; returns rows. A table ClickHouse does not have yet is left out (a first run)."""
    schema, table = _split(name)
    exists = client.command("EXISTS TABLE {s:Identifier}.{t:Identifier}", parameters={"s": schema, "t": table})
    if not int(exists):
        return 0
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    held = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                       [schema, table]).fetchall()[0][0]
    rows = 0
    with client.query_arrow_stream(f"SELECT * FROM `{schema}`.`{table}`", use_strings=True) as stream:
        for batch in stream:
            batch = _naive_timestamps(batch)
            con.register("_batch", batch)
            if not held:
                con.execute(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM _batch')
                held = 1
            else:
                con.execute(f'INSERT INTO "{schema}"."{table}" BY NAME SELECT * FROM _batch')
            con.unregister("_batch")
            rows += batch.num_rows
    if not held:  # no rows: the table still has to exist, with its columns
        empty = client.query_arrow(f"SELECT * FROM `{schema}`.`{table}` LIMIT 0", use_strings=True)
        con.register("_batch", _naive_timestamps(empty))
        con.execute(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM _batch')
        con.unregister("_batch")
    return rows


def _naive_timestamps(batch: pa.Table | pa.RecordBatch) -> pa.Table:
    """ClickHouse hands timestamps over in its server time zone; the warehouse's are naive (UTC wall
    time), as DuckDB keeps them."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    fields = [pa.field(f.name, pa.timestamp(f.type.unit)) if pa.types.is_timestamp(f.type) and f.type.tz else f
              for f in table.schema]
    return table.cast(pa.schema(fields)) if fields != list(table.schema) else table


def copy_to_clickhouse(con: duckdb.DuckDBPyConnection, client: Client, name: str, cluster: str | None = None) -> int:
    """Replace ClickHouse's ``schema.table`` with ``con``'s: built aside, then swapped in. A model
    output gets its mart's contract types; any other table the types of its columns."""
    schema, table = _split(name)
    rows = con.sql(f'SELECT * FROM "{schema}"."{table}"').to_arrow_table()
    on = f" ON CLUSTER `{cluster}`" if cluster else ""
    client.command(f"CREATE DATABASE IF NOT EXISTS `{schema}`{on}")
    aside = f"{table}__new"
    client.command(f"DROP TABLE IF EXISTS `{schema}`.`{aside}`{on} SYNC")
    ddl = model_output_ddl if schema == OUTPUT_SCHEMA else arrow_table_ddl
    client.command(ddl(f"`{schema}`.`{aside}`", table if schema == OUTPUT_SCHEMA else rows.schema, cluster))
    if rows.num_rows:
        client.insert_arrow(f"`{schema}`.`{aside}`", rows)
    if int(client.command("EXISTS TABLE {s:Identifier}.{t:Identifier}", parameters={"s": schema, "t": table})):
        client.command(f"EXCHANGE TABLES `{schema}`.`{aside}` AND `{schema}`.`{table}`{on}")
        client.command(f"DROP TABLE `{schema}`.`{aside}`{on} SYNC")
    else:
        client.command(f"RENAME TABLE `{schema}`.`{aside}` TO `{schema}`.`{table}`{on}")
    return rows.num_rows


def warehouse_resource(settings: Settings) -> Warehouse:
    """The warehouse of these settings; a clear error when ClickHouse is chosen without a usable URL."""
    if settings.warehouse_kind == "clickhouse":
        if not settings.clickhouse_url:
            raise SettingsError("SMARTMALL_WAREHOUSE=clickhouse needs CLICKHOUSE_URL (chdb:///abs/path for the "
                                "embedded engine, or http(s)://user:password@host:port/db)")
        try:
            ClickHouseUrl.parse(settings.clickhouse_url)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
    return Warehouse(kind=settings.warehouse_kind, duckdb_path=str(settings.warehouse),
                     duckdb_memory_limit=settings.duckdb_memory_limit, clickhouse_url=settings.clickhouse_url or "",
                     snapshot_path=str(settings.marts_snapshot))


def dbt_environment(settings: Settings) -> dict[str, str]:
    """What dbt's profile (dbt/profiles.yml) reads: the target named by the warehouse, its connection."""
    env = {"SMARTMALL_WAREHOUSE": settings.warehouse_kind, "SMARTMALL_DUCKDB_PATH": str(settings.warehouse),
           "SMARTMALL_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit}
    if settings.warehouse_kind == "clickhouse":
        url = warehouse_resource(settings).url
        output = url.dbt_output()
        env |= {"SMARTMALL_CH_DRIVER": output["driver"], "SMARTMALL_CH_HOST": str(output["host"]),
                "SMARTMALL_CH_PORT": str(output["port"]), "SMARTMALL_CH_USER": url.user,
                "SMARTMALL_CH_PASSWORD": url.password, "SMARTMALL_CH_SECURE": str(url.secure).lower(),
                "SMARTMALL_CH_CLUSTER": url.cluster or ""}
    return env


def dbt_executable() -> str:
    """``smartmall-dbt`` beside this Python: dbt with the embedded ClickHouse driver (pipelines/dbt_cli.py)."""
    return str(Path(sys.executable).parent / "smartmall-dbt")


def marts_file(settings: Settings) -> Path:
    """A DuckDB file holding the marts, for readers outside the pipeline (the API's seed, the demo
    campaign): the warehouse itself, or on ClickHouse the dashboards' snapshot copied from it."""
    return settings.marts_snapshot if settings.warehouse_kind == "clickhouse" else settings.warehouse
