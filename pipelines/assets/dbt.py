"""The dbt project as Dagster assets; dbt tests surface as asset checks.

Two steps of one project: ``smartmall_dbt`` builds staging, intermediate and the marts over the
raw data; the Python models then train on those marts and write ``model_outputs``; and
``smartmall_dbt_published`` builds the marts over the model outputs (everything downstream of
the ``model_outputs`` source), each under its enforced contract.
"""


import logging
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from pipelines.dbt_manifest import dbt_project, ensure_manifest

progress = logging.getLogger("smartmall")
OVER_MODEL_OUTPUTS = "source:model_outputs+"


class SmartmallDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """Marts are grouped by domain (marts/<domain>/...), the rest by layer."""
        fqn = dbt_resource_props.get("fqn", [])
        if len(fqn) > 2 and fqn[1] == "marts":
            return fqn[2]
        return fqn[1] if len(fqn) > 2 else "dbt"


ensure_manifest()
dbt_project.prepare_if_dev()


def _build(context: dg.AssetExecutionContext, dbt: DbtCliResource, step: str) -> Iterator:
    built = failed = 0
    for event in dbt.cli(["build"], context=context).stream():
        if isinstance(event, dg.Output | dg.MaterializeResult):
            built += 1
        elif isinstance(event, dg.AssetCheckResult) and not event.passed:
            failed += 1
        yield event
    progress.info("  dbt build (%s): %d models built, %d failing tests", step, built, failed)


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=SmartmallDbtTranslator(),
            exclude=OVER_MODEL_OUTPUTS)
def smartmall_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """``dbt build``: staging -> intermediate -> the marts over the raw data, with every data test."""
    yield from _build(context, dbt, "marts over the raw data")


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=SmartmallDbtTranslator(),
            select=OVER_MODEL_OUTPUTS, name="smartmall_dbt_published")
def smartmall_dbt_published(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """``dbt build`` of the marts over the model outputs, each under its enforced contract."""
    yield from _build(context, dbt, "marts over the model outputs")
