"""What the Python model assets have in common: they read marts and write ``model_outputs``
tables (see ``pipelines.marts``), which dbt publishes as the marts of the same names."""

from collections.abc import Iterable

import dagster as dg
import duckdb

from pipelines.marts import OUTPUT_SCHEMA, output_rows


def output_key(name: str) -> dg.AssetKey:
    """The asset of a Python model's output table ``model_outputs.<name>``."""
    return dg.AssetKey([OUTPUT_SCHEMA, name])


def mart_deps(upstream: Iterable[str]) -> list[dg.AssetKey]:
    """``upstream``: mart names (``marts.<name>``), ``schema/name`` for another layer or the model outputs."""
    return [dg.AssetKey(u.split("/") if "/" in u else ["marts", u]) for u in upstream]


def tables(keys: Iterable[dg.AssetKey]) -> list[str]:
    """``schema.table`` of each asset: what a step reads through ``Warehouse.session``."""
    return [".".join(key.path) for key in keys]


def output_tables(outputs: Iterable[str]) -> list[str]:
    """``model_outputs.<name>`` of each output: what a model step writes."""
    return [f"{OUTPUT_SCHEMA}.{name}" for name in outputs]


def output_specs(outputs: dict[str, str], group: str, deps: list[dg.AssetKey]) -> list[dg.AssetSpec]:
    """One spec per output table: {name: description}."""
    return [dg.AssetSpec(output_key(name), description=text, group_name=group, kinds={"python"}, deps=deps)
            for name, text in outputs.items()]


def metadata(result: dict) -> dict:
    """A model's report as Dagster metadata (nested dicts as JSON)."""
    return {k: dg.MetadataValue.json(v) if isinstance(v, dict | list) else v for k, v in result.items()}


def output_results(con: duckdb.DuckDBPyConnection, outputs: Iterable[str],
                   results: dict) -> list[dg.MaterializeResult]:
    """One result per output written: its row count and what its model reported. ``results`` is
    {name: report} or one report shared by every output."""
    shared = not any(name in results for name in outputs)
    return [dg.MaterializeResult(asset_key=output_key(name),
                                 metadata={"rows": output_rows(con, name),
                                           **metadata(results if shared else results.get(name, {}))})
            for name in outputs]
