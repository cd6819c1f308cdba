"""great-expectations as a guard that can fail: a record that gets past routing fails the asset
check and stops what builds on it (that the suites say what the contract says is in
test_contract_agreement.py)."""

from __future__ import annotations

import json

import dagster as dg
import duckdb
import polars as pl

from data.settings import Settings
from pipelines import ingest
from pipelines.definitions import build_defs
from pipelines.quality import REPO_PROJECT, expectation_parameters


def test_every_suite_parameter_has_a_value():
    text = "".join(p.read_text() for p in (REPO_PROJECT / "expectations").glob("*.json"))
    used = {part.split('"')[0] for part in text.split('"$PARAMETER": "')[1:]}
    assert used and used <= set(expectation_parameters(5))
    assert expectation_parameters(5)["line_limit_x100"] == 500


def _landing_with_a_bad_product(settings: Settings) -> None:
    products = settings.landing / "products"
    products.mkdir(parents=True)
    pl.DataFrame({"sku": ["A", "B"], "name": ["apple", "bread"], "category": ["Fruit", "Bakery"],
                  "price": ["1.5", "-2"]}).write_csv(products / "products.csv")
    positions = settings.landing / "stock_positions"
    positions.mkdir(parents=True)
    pl.DataFrame({"location_id": ["S1"], "sku": ["A"], "on_hand": ["3"], "reserved": ["0"], "allocated": ["0"],
                  "as_of": ["2025-03-01 08:00:00"]}).write_csv(positions / "positions.csv")


def _run(settings: Settings) -> dg.ExecuteInProcessResult:
    defs = build_defs(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        asset_selection=[dg.AssetKey(["raw", "products"]), dg.AssetKey(["raw", "stock_positions"])],
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "great_expectations"
                     and e.asset_key == dg.AssetKey(["raw", "products"])]
    return evaluation


def test_routing_quarantines_and_the_check_passes(tmp_path):
    settings = Settings(home=tmp_path)
    _landing_with_a_bad_product(settings)
    result = _run(settings)
    assert result.success and _check(result).passed
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialized == {"products", "stock_positions"}


def test_a_record_past_routing_fails_the_check_and_blocks_downstream(tmp_path, monkeypatch):
    """Break routing (every record accepted): the negative price lands, the suite catches it, the
    check fails with the expectation's name, and raw.stock_positions (which looks products up) is
    not built on it. The load stays for inspection; the result is kept in the environment's GX."""
    monkeypatch.setattr(ingest, "_routing_case", lambda table: "NULL")
    settings = Settings(home=tmp_path)
    _landing_with_a_bad_product(settings)
    result = _run(settings)
    check = _check(result)
    assert not result.success and not check.passed
    assert "expect_column_values_to_be_between(price)" in check.description
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialized == {"products"}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.products WHERE price < 0").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM raw.stock_positions").fetchone()[0] == 0
    kept = list((tmp_path / "gx" / "uncommitted" / "validations" / "raw_products").rglob("*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["success"] is False
