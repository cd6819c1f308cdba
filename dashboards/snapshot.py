"""The marts the pages read (``marts_source``): the pipeline's read-only DuckDB snapshot
(``serving.marts_snapshot``), or on a ClickHouse server the warehouse's marts themselves. Both are
opened per query, so a new run's marts are seen at once and nothing is held open. No Streamlit here:
the query modules and the tests use them as they are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb
import polars as pl
from clickhouse_connect.driver.exceptions import DatabaseError

from dashboards.clickhouse_sql import to_clickhouse
from data.clickhouse_url import STANDARD_SQL, ClickHouseUrl
from data.settings import Settings


class NoData(Exception):
    """What the page shows instead of a chart: what is missing and what to run."""


class Marts(Protocol):
    """What a page's queries read: ``marts.<table>`` in DuckDB's SQL with ``?`` parameters."""

    @property
    def version(self) -> int | str:
        """Changes whenever the pipeline publishes new marts (the cache key)."""
        ...

    def tables(self) -> set[str]: ...

    def query(self, sql: str, params: list | tuple = ()) -> pl.DataFrame: ...


@dataclass(frozen=True)
class Snapshot:
    path: Path

    @property
    def version(self) -> int:
        """Changes whenever the pipeline publishes a new snapshot (cache key)."""
        if not self.path.exists():
            raise NoData("No data yet: run `smartmall demo` (or import your data and run `smartmall run`); "
                         "the dashboards show the marts of the last successful run.")
        return self.path.stat().st_mtime_ns

    def tables(self) -> set[str]:
        return set(self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'")
                   ["table_name"].to_list())

    def query(self, sql: str, params: list | tuple = ()) -> pl.DataFrame:
        """``sql`` over the marts (``marts.<table>``), with ``?`` parameters; a polars frame."""
        self.version  # noqa: B018 - raises NoData when there is no snapshot yet
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            return con.sql(sql, params=list(params)).pl()
        except duckdb.CatalogException as exc:
            raise NoData(f"A mart this page needs is missing ({str(exc).splitlines()[0]}); "
                         "run `smartmall run` to build it.") from exc
        finally:
            con.close()


@dataclass(frozen=True)
class ClickHouseMarts:
    """The marts on ClickHouse (``CLICKHOUSE_URL``): each query translated (``dashboards.clickhouse_sql``)
    and sent with a client of its own (the embedded engine is free again as soon as it is answered)."""

    url: str

    def _run(self, sql: str) -> pl.DataFrame:
        client = ClickHouseUrl.parse(self.url).client(settings=STANDARD_SQL)
        try:
            frame: pl.DataFrame = pl.from_arrow(client.query_arrow(sql))  # type: ignore[assignment]
            # the marts' timestamps are UTC without a zone, as in the snapshot
            return frame.with_columns(pl.col(pl.Datetime("us", "UTC"), pl.Datetime("us", "Etc/UTC"))
                                      .dt.replace_time_zone(None))
        except DatabaseError as exc:
            if "UNKNOWN_TABLE" in str(exc) or "UNKNOWN_DATABASE" in str(exc):
                raise NoData("A mart this page needs is missing; run `smartmall run` to build it.") from exc
            raise
        finally:
            client.close()

    @property
    def version(self) -> str:
        # a run rebuilds marts (dbt builds aside and exchanges: new metadata) or adds to incremental
        # ones (new parts): the newest of both
        frame = self._run(
            "SELECT (SELECT toString(max(metadata_modification_time)) FROM system.tables WHERE database = 'marts') "
            "|| '/' || (SELECT toString(max(modification_time)) FROM system.parts WHERE database = 'marts' "
            "AND active) AS v, (SELECT count() FROM system.tables WHERE database = 'marts') AS n")
        if not frame["n"][0]:
            raise NoData("No marts on ClickHouse yet: run `smartmall run` (or `smartmall demo`).")
        return frame["v"][0]

    def tables(self) -> set[str]:
        return set(self._run("SELECT name FROM system.tables WHERE database = 'marts'")["name"].to_list())

    def query(self, sql: str, params: list | tuple = ()) -> pl.DataFrame:
        return self._run(to_clickhouse(sql, params))


def marts_source(settings: Settings) -> Marts:
    """Where the pages read the marts: a ClickHouse server's own, or the snapshot the pipeline
    publishes (DuckDB's warehouse, and ClickHouse's embedded engine, which only one process can
    hold, belong to the pipeline). ``SMARTMALL_DASHBOARDS_SOURCE=clickhouse`` reads the embedded engine's
    marts directly when no pipeline runs (the tests)."""
    on_clickhouse = settings.warehouse_kind == "clickhouse" and settings.clickhouse_url
    source = settings.dashboards_source
    if source == "auto":
        source = "clickhouse" if on_clickhouse and not settings.clickhouse_url.startswith("chdb:") else "snapshot"
    if source == "clickhouse" and on_clickhouse:
        return ClickHouseMarts(settings.clickhouse_url)
    return Snapshot(settings.marts_snapshot)
