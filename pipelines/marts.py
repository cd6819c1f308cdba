"""Writing model outputs back into the warehouse as marts."""

from __future__ import annotations

import duckdb
import polars as pl


def write_mart(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """Replace ``marts.<name>`` with ``frame`` (through Arrow, no row-by-row insert)."""
    con.register("_frame", frame.to_arrow())
    con.execute(f"CREATE OR REPLACE TABLE marts.{name} AS SELECT * FROM _frame")
    con.unregister("_frame")
