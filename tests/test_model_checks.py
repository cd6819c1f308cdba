"""Asset checks on the tables the Python models write (model_outputs): a score out of range or a repeated key fails (and blocks
what reads the mart); a big swing in rows against the last run warns."""


import dagster as dg
import duckdb

from pipelines.assets.model_checks import _row_count_check, _values_check, build_model_checks
from pipelines.warehouse import Warehouse

FORECAST = ("sku VARCHAR, location_id VARCHAR, week_start DATE, forecast_units DOUBLE, lower_units DOUBLE, "
            "upper_units DOUBLE, lower_95_units DOUBLE, upper_95_units DOUBLE")


def _forecasts(path, rows: list[tuple]) -> Warehouse:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS model_outputs")
        con.execute(f"CREATE OR REPLACE TABLE model_outputs.forecasts ({FORECAST})")
        if rows:
            con.executemany("INSERT INTO model_outputs.forecasts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return Warehouse(duckdb_path=str(path))


GOOD = ("A", "S1", "2025-03-03", 4.0, 2.0, 6.0, 1.0, 9.0)


def test_values_in_range_pass_on_a_sound_mart_and_fail_on_each_fault(tmp_path):
    check = _values_check("forecasts")
    assert check(warehouse=_forecasts(tmp_path / "ok.duckdb", [GOOD])).passed
    inverted = ("B", "S1", "2025-03-03", 4.0, 5.0, 6.0, 1.0, 9.0)  # lower 80 % above the forecast
    result = check(warehouse=_forecasts(tmp_path / "bad.duckdb", [GOOD, GOOD, inverted, (*GOOD[:3], float("nan"),
                                                                                         *GOOD[4:])]))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert "2 rows break" in result.description and "1 keys (sku, location_id, week_start)" in result.description


def test_every_checked_output_has_both_checks_and_the_value_checks_block():
    checks = [spec for c in build_model_checks() for spec in c.check_specs]
    assert {(s.asset_key.path[-1], s.name) for s in checks if s.name == "values_in_range"} == \
        {(s.asset_key.path[-1], "values_in_range") for s in checks if s.name == "rows_against_last_run"}
    assert all(s.blocking for s in checks if s.name == "values_in_range")
    assert len(checks) == 14 and all(s.asset_key.path[0] == "model_outputs" for s in checks)


def test_rows_against_the_last_run_warn_on_a_big_swing(tmp_path):
    path = tmp_path / "w.duckdb"

    @dg.asset(key=["model_outputs", "forecasts"])
    def forecasts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        rows = context.run.tags["rows"]
        _forecasts(path, [(f"S{i}", *GOOD[1:]) for i in range(int(rows))])
        return dg.MaterializeResult(metadata={"rows": int(rows)})

    instance = dg.DagsterInstance.ephemeral()
    results = []
    for rows in ("10", "12", "3"):
        run = dg.materialize([forecasts, _row_count_check("forecasts")], instance=instance, tags={"rows": rows},
                             resources={"warehouse": Warehouse(duckdb_path=str(path))})
        (evaluation,) = run.get_asset_check_evaluations()
        results.append((evaluation.passed, evaluation.description))
    assert results == [(True, None), (True, "10 rows last run, 12 now"), (False, "12 rows last run, 3 now")]
