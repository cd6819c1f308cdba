"""The dbt project's manifest: which marts exist and what columns each declares.

dbt is the one definition of every queryable mart (``dbt/models/marts``). The CLI lists the marts
from here, and a Python model that is skipped for lack of data writes its output table empty with
the columns its mart's contract declares (``pipelines.marts.write_empty``), so the empty case
cannot drift from the full one.
"""

from __future__ import annotations

import json
from functools import cache

from dagster_dbt import DbtProject

from pipelines.environment import DBT_PROJECT_DIR, put_dbt_on_path

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def ensure_manifest() -> None:
    """Parse the project when the manifest is missing or older than any model, macro, test or
    project file (dagster-dbt loads it at import)."""
    manifest = dbt_project.manifest_path
    sources = [p for folder in ("models", "macros", "tests") for p in (DBT_PROJECT_DIR / folder).rglob("*")]
    sources += [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    newest = max(p.stat().st_mtime for p in sources if p.is_file())
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        put_dbt_on_path()
        dbt_project.preparer.prepare(dbt_project)


@cache
def _manifest() -> dict:
    ensure_manifest()
    return json.loads(dbt_project.manifest_path.read_text())


def _mart_nodes() -> dict[str, dict]:
    return {node["name"]: node for node in _manifest()["nodes"].values()
            if node["resource_type"] == "model" and node["schema"] == "marts"}


def queryable_marts() -> list[str]:
    """Every mart a user can query (``marts.<name>``), by name."""
    return sorted(_mart_nodes())


def contract_column_types(mart: str) -> list[tuple[str, str]]:
    """[(column, declared type)] of the mart's enforced contract, in order."""
    node = _mart_nodes()[mart]
    if not node["config"].get("contract", {}).get("enforced"):
        raise ValueError(f"marts.{mart} has no enforced contract to take its columns from")
    return [(c["name"], c["data_type"]) for c in node["columns"].values()]


def contract_columns(mart: str) -> str:
    """``"a VARCHAR, b DOUBLE"``: the columns the mart's enforced contract declares, in order."""
    return ", ".join(f'"{name}" {declared.upper()}' for name, declared in contract_column_types(mart))
