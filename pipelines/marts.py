"""Writing model outputs into the warehouse, for dbt to publish as marts.

Python computes only what needs Python (model fits and scores) and writes each output to
``model_outputs.<name>``, a source of the dbt project; the mart ``marts.<name>`` is the dbt model
over it, with its columns documented, typed by an enforced contract and tested.
"""

from __future__ import annotations

import duckdb
import polars as pl

from pipelines.dbt_manifest import contract_columns

OUTPUT_SCHEMA = "model_outputs"


def write_mart(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """Replace ``model_outputs.<name>`` with ``frame`` (through Arrow, no row-by-row insert)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {OUTPUT_SCHEMA}")
    con.register("_frame", frame.to_arrow())
    con.execute(f"CREATE OR REPLACE TABLE {OUTPUT_SCHEMA}.{name} AS SELECT * FROM _frame")
    con.unregister("_frame")


def write_empty(con: duckdb.DuckDBPyConnection, names: tuple[str, ...] | list[str]) -> None:
    """Replace each ``model_outputs.<name>`` with an empty table of the columns its mart's contract
    declares: a model skipped for lack of data still leaves its mart, empty, for whoever reads it."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {OUTPUT_SCHEMA}")
    for name in names:
        con.execute(f"CREATE OR REPLACE TABLE {OUTPUT_SCHEMA}.{name} ({contract_columns(name)})")


def output_rows(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """Rows of ``model_outputs.<name>``."""
    return con.execute(f"SELECT count(*) FROM {OUTPUT_SCHEMA}.{name}").fetchall()[0][0]
