"""great-expectations suites built from the raw contract, run on every accepted batch.

Routing in ``pipelines.ingest`` quarantines bad records one by one in SQL; this suite is the
independent second look at what was accepted. A failing suite means a bad record got through,
so the asset fails. great-expectations is imported lazily (it takes seconds to import).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from data.contract import ALLOWED_VALUES, MAX_ABS_QUANTITY, TABLES, Table, value_ranges

# Above this many accepted rows in one load (a backfill of many days) the suite runs on a
# deterministic reservoir sample; the metadata states rows validated vs accepted. A daily load
# of one feed day is validated in full.
MAX_VALIDATED_ROWS = 250_000


@dataclass(frozen=True)
class SuiteResult:
    table: str
    success: bool
    rows_validated: int
    rows_accepted: int
    expectations: int
    failed: list[str]

    def as_metadata(self) -> dict[str, object]:
        return {
            "gx_success": self.success,
            "gx_expectations": self.expectations,
            "gx_rows_validated": self.rows_validated,
            "gx_failed": ", ".join(self.failed) or "none",
        }


def build_suite(table: Table, max_line_quantity: int = MAX_ABS_QUANTITY):
    """The expectation suite of one raw table, for the retailer's line limit."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=f"raw_{table.name}")
    for column in table.columns:
        if column.required:
            suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=column.name))
    for column, values in ALLOWED_VALUES.get(table.name, {}).items():
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column=column, value_set=list(values)))
    for column, (low, high) in value_ranges(max_line_quantity).get(table.name, {}).items():
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high))
    if len(table.key) == 1:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeUnique(column=table.key[0]))
    else:
        suite.add_expectation(gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(table.key)))
    return suite


def _quiet() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def validate_accepted(con: duckdb.DuckDBPyConnection, table_name: str, batches: Sequence[str] | None,
                      max_line_quantity: int = MAX_ABS_QUANTITY) -> SuiteResult:
    """Run the suite on the rows of ``raw.<table>`` that these batches loaded (all when None)."""
    _quiet()
    import great_expectations as gx

    table = TABLES[table_name]
    where, params = ("", []) if batches is None else ("WHERE _batch IN (SELECT unnest(?))", [list(batches)])
    total = con.execute(f"SELECT count(*) FROM raw.{table.name} {where}", params).fetchone()[0]
    sample = f"USING SAMPLE reservoir({MAX_VALIDATED_ROWS} ROWS) REPEATABLE (7)" if total > MAX_VALIDATED_ROWS else ""
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    frame = con.execute(f"SELECT {cols} FROM raw.{table.name} {where} {sample}", params).df()
    if frame.empty:
        return SuiteResult(table.name, True, 0, 0, 0, [])
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (
        context.data_sources.add_pandas(f"raw_{table.name}")
        .add_dataframe_asset(table.name)
        .add_batch_definition_whole_dataframe("batch")
    )
    suite = context.suites.add(build_suite(table, max_line_quantity))
    result = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format="BOOLEAN_ONLY")
    failed = [
        f"{r.expectation_config.type}({r.expectation_config.kwargs.get('column') or r.expectation_config.kwargs.get('column_list')})"
        for r in result.results
        if not r.success
    ]
    return SuiteResult(table.name, bool(result.success), len(frame), int(total), len(result.results), failed)
