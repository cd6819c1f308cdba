"""The marts the pages read: the pipeline's read-only snapshot (``serving.marts_snapshot``),
opened per query so a newly published snapshot is picked up at once and the warehouse itself is
never held open. No Streamlit here: the query modules and the tests use it as it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl


class NoData(Exception):
    """What the page shows instead of a chart: what is missing and what to run."""


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
