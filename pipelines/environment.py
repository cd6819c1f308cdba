"""The process environment that dbt and Dagster need for one installation (its settings are
``data.settings``): dbt on PATH, the warehouse path for dbt's profile, a Dagster home."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from data.settings import REPO_ROOT, Settings

DBT_PROJECT_DIR = REPO_ROOT / "dbt"

def put_dbt_on_path() -> None:
    """dbt is installed beside this Python; dagster-dbt calls it by name."""
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")


def prepare_environment(settings: Settings) -> None:
    """Environment the dbt CLI and Dagster need: dbt on PATH, the warehouse (its engine and where it is), a
    Dagster home."""
    from pipelines.warehouse import dbt_environment

    put_dbt_on_path()
    os.environ.update(dbt_environment(settings))
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    # our own file is kept current; a dagster.yaml someone else wrote is left alone
    wanted = dagster_yaml(dagster_home)
    current = config.read_text() if config.exists() else None
    if current is None or (current.startswith(DAGSTER_YAML_MARK) and current != wanted):
        config.write_text(wanted)


DAGSTER_YAML_MARK = "# written by smartmall"


def dagster_yaml(dagster_home: Path) -> str:
    """Local run storage in this folder (the stock layout), a faster event log, no usage statistics."""
    return (
        f"{DAGSTER_YAML_MARK} (pipelines.environment.prepare_environment); edit the first line away to keep your own\n"
        "event_log_storage:\n"
        "  module: pipelines.dagster_storage\n"
        "  class: FastSqliteEventLogStorage\n"
        "  config:\n"
        f"    base_dir: {dagster_home / 'history' / 'runs'}\n"
        "telemetry:\n"
        "  enabled: false\n"
    )
