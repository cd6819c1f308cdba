"""great-expectations as its community runs it: a file data context, a checkpoint per load, results kept.

Routing in ``pipelines.ingest`` quarantines bad records one by one in SQL; the suites here are the
independent second look at what was accepted. The project is in the repo (``gx/``): one suite,
validation definition and checkpoint per raw table, generated from ``data.contract`` by
``python -m pipelines.contract_sync`` and held to it by the tests. Each environment runs a copy under
``$SMARTMALL_HOME/gx``, which keeps the validation results and the Data Docs (updated by each
checkpoint run). The line
limit is the retailer's (SMARTMALL_MAX_LINE_QUANTITY), so the suites take the bounds that follow
from it as expectation parameters. great-expectations is imported lazily (it takes seconds).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

from data.contract import ALLOWED_VALUES, MAX_ABS_QUANTITY, TABLES, Table, value_ranges

REPO_PROJECT = Path(__file__).resolve().parent.parent / "gx"
# what the repo holds of a GX project; results and Data Docs ("uncommitted/") stay per environment
PROJECT_PARTS = ("great_expectations.yml", "expectations", "validation_definitions", "checkpoints")
DATASOURCE = "raw"
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


def _parameter(factor: float) -> str:
    return f"line_limit_x{int(factor)}".replace("-", "minus")


def _bounds(table_name: str) -> dict[str, tuple[object, object]]:
    """The contract's value ranges of a table; a bound that follows the line limit becomes a named
    expectation parameter (``line_limit_x100`` = 100 x the limit), the others stay numbers."""
    unit, double = value_ranges(1).get(table_name, {}), value_ranges(2).get(table_name, {})

    def bound(one: float, two: float) -> object:
        return one if one == two else {"$PARAMETER": _parameter(one)}

    return {col: (bound(lo, double[col][0]), bound(hi, double[col][1])) for col, (lo, hi) in unit.items()}


def expectation_parameters(max_line_quantity: int = MAX_ABS_QUANTITY) -> dict[str, float]:
    """Values of every parameter the suites use, for the retailer's line limit."""
    unit, double = value_ranges(1), value_ranges(2)
    factors = {one for t in unit for col in unit[t] for one, two in zip(unit[t][col], double[t][col], strict=True)
               if one != two}
    return {_parameter(f): f * max_line_quantity for f in factors}


def build_suite(table: Table):
    """The expectation suite of one raw table, as the contract says."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=f"raw_{table.name}")
    for column in table.columns:
        if column.required:
            suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=column.name))
    for column, values in ALLOWED_VALUES.get(table.name, {}).items():
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column=column, value_set=list(values)))
    for column, (low, high) in _bounds(table.name).items():
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high))
    if len(table.key) == 1:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeUnique(column=table.key[0]))
    else:
        suite.add_expectation(gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(table.key)))
    return suite


def _quiet() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def write_project(root: Path) -> Path:
    """Generate the GX project from the contract into ``root/gx`` (what ``python -m pipelines.contract_sync``
    writes to the repo): a pandas data source with a dataframe asset per raw table, and per table
    its suite, a validation definition and a checkpoint of the same name."""
    _quiet()
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=root)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.analytics_enabled = False
    context.variables.save()
    source = context.data_sources.add_or_update_pandas(DATASOURCE)
    for table in TABLES.values():
        batch = source.add_dataframe_asset(table.name).add_batch_definition_whole_dataframe("batch")
        suite = context.suites.add(build_suite(table))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"raw_{table.name}", data=batch, suite=suite))
        context.checkpoints.add(gx.Checkpoint(
            name=f"raw_{table.name}", validation_definitions=[definition], result_format="SUMMARY",
            actions=[UpdateDataDocsAction(name="update_data_docs")]))
    return Path(context.root_directory)


@cache
def _context(root: Path):
    """The environment's file context: the repo's project copied under ``root`` (its suites follow
    the repo), results and Data Docs kept there."""
    _quiet()
    import great_expectations as gx

    target = root / "gx"
    target.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        source, dest = REPO_PROJECT / part, target / part
        if source.is_dir():
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(source, dest)
        else:
            shutil.copy2(source, dest)
    return gx.get_context(mode="file", project_root_dir=root)


def validate_accepted(con: duckdb.DuckDBPyConnection, table_name: str, batches: Sequence[str] | None,
                      gx_root: Path, max_line_quantity: int = MAX_ABS_QUANTITY) -> SuiteResult:
    """Run the table's checkpoint on the rows of ``raw.<table>`` that these batches loaded (all when
    None); the result is kept in the environment's GX project under ``gx_root``."""
    table = TABLES[table_name]
    where, params = ("", []) if batches is None else ("WHERE _batch IN (SELECT unnest(?))", [list(batches)])
    total = con.execute(f"SELECT count(*) FROM raw.{table.name} {where}", params).fetchone()[0]
    sample = f"USING SAMPLE reservoir({MAX_VALIDATED_ROWS} ROWS) REPEATABLE (7)" if total > MAX_VALIDATED_ROWS else ""
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    frame = con.execute(f"SELECT {cols} FROM raw.{table.name} {where} {sample}", params).df()
    if frame.empty:
        return SuiteResult(table.name, True, 0, 0, 0, [])
    checkpoint = _context(gx_root).checkpoints.get(f"raw_{table.name}")
    outcome = checkpoint.run(batch_parameters={"dataframe": frame},
                             expectation_parameters=expectation_parameters(max_line_quantity))
    result = next(iter(outcome.run_results.values()))
    failed = [
        f"{r.expectation_config.type}({r.expectation_config.kwargs.get('column') or r.expectation_config.kwargs.get('column_list')})"
        for r in result.results
        if not r.success
    ]
    return SuiteResult(table.name, bool(result.success), len(frame), int(total), len(result.results), failed)


def data_docs_index(gx_root: Path) -> Path | None:
    """The environment's Data Docs (each checkpoint run updates them), or None before any load."""
    index = gx_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    return index if index.exists() else None


def _expectations(suite: dict) -> list[tuple[str, str]]:
    return sorted((e["type"], json.dumps(e["kwargs"], sort_keys=True)) for e in suite["expectations"])


def stale_suites() -> list[str]:
    """Raw tables whose suite in the repo's GX project differs from the contract's (or is missing)."""
    _quiet()
    import great_expectations as gx

    gx.get_context(mode="ephemeral")  # a suite serializes within a context
    stale = []
    for table in TABLES.values():
        files = [REPO_PROJECT / part / f"raw_{table.name}.json"
                 for part in ("expectations", "checkpoints", "validation_definitions")]
        if not all(f.exists() for f in files) or _expectations(json.loads(files[0].read_text())) != \
                _expectations(build_suite(table).to_json_dict()):
            stale.append(table.name)
    return stale


def write_repo_project() -> bool:
    """Regenerate the repo's GX project from the contract when a suite is behind it (GX gives every
    object a new id, so an unchanged contract leaves the files alone). True when written."""
    if not stale_suites():
        return False
    with tempfile.TemporaryDirectory() as tmp:
        built = write_project(Path(tmp))
        REPO_PROJECT.mkdir(exist_ok=True)
        for part in PROJECT_PARTS:
            dest = REPO_PROJECT / part
            if dest.is_dir():
                shutil.rmtree(dest)
            (shutil.copytree if (built / part).is_dir() else shutil.copy2)(built / part, dest)
    return True
