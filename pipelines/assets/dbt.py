"""The dbt project as Dagster assets; dbt tests surface as asset checks."""


import logging
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from pipelines.settings import DBT_PROJECT_DIR

progress = logging.getLogger("smartmall")
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class SmartmallDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """Marts are grouped by domain (marts/<domain>/...), the rest by layer."""
        fqn = dbt_resource_props.get("fqn", [])
        if len(fqn) > 2 and fqn[1] == "marts":
            return fqn[2]
        return fqn[1] if len(fqn) > 2 else "dbt"


def ensure_manifest() -> None:
    """dagster-dbt loads the manifest at import; parse the project when it is missing or older
    than any model, macro, test or project file."""
    manifest = dbt_project.manifest_path
    sources = [p for folder in ("models", "macros", "tests") for p in (DBT_PROJECT_DIR / folder).rglob("*")]
    sources += [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    newest = max(p.stat().st_mtime for p in sources if p.is_file())
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        dbt_project.preparer.prepare(dbt_project)


ensure_manifest()
dbt_project.prepare_if_dev()


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=SmartmallDbtTranslator())
def smartmall_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """``dbt build``: staging -> intermediate -> marts, with every data test."""
    built = failed = 0
    for event in dbt.cli(["build"], context=context).stream():
        if isinstance(event, dg.Output | dg.MaterializeResult):
            built += 1
        elif isinstance(event, dg.AssetCheckResult) and not event.passed:
            failed += 1
        yield event
    progress.info("  dbt build: %d models built, %d failing tests", built, failed)
