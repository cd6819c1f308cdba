"""Writing model outputs back into the warehouse as marts."""

from __future__ import annotations

import duckdb
import polars as pl


def write_mart(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """Replace ``marts.<name>`` with ``frame`` (through Arrow, no row-by-row insert)."""
    con.register("_frame", frame.to_arrow())
    con.execute(f"CREATE OR REPLACE TABLE marts.{name} AS SELECT * FROM _frame")
    con.unregister("_frame")


def write_empty(con: duckdb.DuckDBPyConnection, tables: dict[str, str]) -> None:
    """Replace each ``marts.<name>`` with an empty table of the given columns (``"a VARCHAR, b DOUBLE"``):
    a mart skipped for lack of data is still there, with its columns, for whoever reads it."""
    for name, columns in tables.items():
        con.execute(f"CREATE OR REPLACE TABLE marts.{name} ({columns})")
