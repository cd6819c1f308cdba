"""One contract (data/contract.py): every other place that names its values derives from it, and
these tests fail when one drifts: the great-expectations suites, the dbt tests' accepted values, the
commerce API's channel type and event intake, and the synthetic generator."""

from __future__ import annotations

import typing
from pathlib import Path

import duckdb
import yaml

from commerce_api.routes import catalogue, orders, recommendations
from data import contract
from data.synthetic import world
from data.synthetic.generate import BAD_VALUES
from pipelines.contract_sync import dbt_vars, dbt_vars_block
from pipelines.environment import DBT_PROJECT_DIR
from pipelines.quality import stale_suites

DOMAINS = {"channel": contract.CHANNELS, "event": contract.EVENT_NAMES, "fulfillment": contract.FULFILLMENTS,
           "iot kind": contract.IOT_KINDS, "location kind": contract.LOCATION_KINDS,
           "movement type": contract.MOVEMENT_TYPES}


def test_the_repos_gx_suites_are_the_contracts():
    """gx/ is generated (``python -m pipelines.contract_sync``): a contract change without it fails here."""
    assert stale_suites() == []


def test_dbt_reads_the_contracts_values_as_vars():
    project = (DBT_PROJECT_DIR / "dbt_project.yml").read_text()
    assert dbt_vars_block() in project, "run python -m pipelines.contract_sync"
    assert {k: v for k, v in yaml.safe_load(project)["vars"].items() if k in dbt_vars()} == dbt_vars()


def _accepted_values(node) -> typing.Iterator[object]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "accepted_values":
                yield (value.get("arguments") or value)["values"]
            else:
                yield from _accepted_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _accepted_values(item)


def test_no_dbt_test_spells_out_a_contract_list():
    """Every accepted_values over a contract domain reads its var; a literal list may only hold values
    no contract domain has (funnel steps, alert kinds)."""
    contract_values = {v for values in DOMAINS.values() for v in values}
    seen_vars = 0
    for path in Path(DBT_PROJECT_DIR / "models").rglob("*.yml"):
        for values in _accepted_values(yaml.safe_load(path.read_text())):
            if isinstance(values, str):
                assert "var('contract_" in values, (path, values)
                seen_vars += 1
            else:
                assert not set(map(str, values)) & contract_values, (path, values)
    assert seen_vars >= 6


def test_the_apis_channel_type_is_the_contracts():
    assert typing.get_args(catalogue.Channel) == contract.CHANNELS
    assert recommendations.Channel is catalogue.Channel and orders.Channel is catalogue.Channel


def test_the_generator_draws_from_the_contract(small_landing):
    assert set(world.CHANNELS) == set(contract.CHANNELS) - {"online"}
    con = duckdb.connect()
    checks = {("transactions", "channel"): "channel", ("transactions", "fulfillment"): "fulfillment",
              ("events", "event"): "event", ("events", "channel"): "channel", ("iot_readings", "kind"): "iot kind",
              ("stores", "kind"): "location kind", ("inventory_movements", "movement_type"): "movement type"}
    # the values the generator breaks records with on purpose (quarantined by design)
    broken = {str(v) for changes in BAD_VALUES.values() for _, v in changes}
    for (table, column), domain in checks.items():
        values = {r[0] for r in con.execute(
            f"SELECT DISTINCT {column} FROM read_parquet('{small_landing}/{table}/**/*.parquet', union_by_name=true) "
            f"WHERE {column} IS NOT NULL").fetchall()} - broken
        assert values and values <= set(DOMAINS[domain]), (table, column, values - set(DOMAINS[domain]))
