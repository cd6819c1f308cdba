"""Where smartmall keeps its files, per environment (``SMARTMALL_HOME``, default ``<repo>/data``)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
DEFAULT_START_DATE = "2024-01-01"
# DuckDB may take most of the machine by default; cap it so the pipeline fits beside other work.
DEFAULT_DUCKDB_MEMORY_LIMIT = "4GB"


@dataclass(frozen=True)
class Settings:
    home: Path

    @property
    def landing(self) -> Path:
        """Files waiting to be ingested, in the layout of ``data.contract``."""
        return self.home / "landing"

    @property
    def warehouse(self) -> Path:
        """The embedded DuckDB warehouse file."""
        return self.home / "warehouse" / "smartmall.duckdb"

    @property
    def registry(self) -> Path:
        """Model registry folder (versioned model cards and artefacts; see serving/registry.py)."""
        return self.home / "registry"

    @property
    def churn_horizon_days(self) -> int:
        return int(os.environ.get("SMARTMALL_CHURN_HORIZON_DAYS", "90"))

    @property
    def duckdb_memory_limit(self) -> str:
        return os.environ.get("SMARTMALL_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT)

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"

    def first_feed_day(self) -> str:
        """First daily partition: the manifest's start, else the earliest landed day, else a default."""
        manifest = self.landing / "_manifest.json"
        if manifest.exists():
            return json.loads(manifest.read_text())["start"]
        days = sorted(p.name[5:] for p in self.landing.glob("*/date=*") if p.is_dir())
        return days[0] if days else DEFAULT_START_DATE

    def landed_days(self) -> list[str]:
        return sorted({p.name[5:] for p in self.landing.glob("*/date=*") if p.is_dir()})


def load_settings() -> Settings:
    home = Path(os.environ.get("SMARTMALL_HOME", REPO_ROOT / "data")).resolve()
    return Settings(home=home)


def prepare_environment(settings: Settings) -> None:
    """Environment the dbt CLI and Dagster need: dbt on PATH, the warehouse path, a Dagster home."""
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    os.environ["SMARTMALL_DUCKDB_PATH"] = str(settings.warehouse)
    os.environ["SMARTMALL_DUCKDB_MEMORY_LIMIT"] = settings.duckdb_memory_limit
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
        f"{DAGSTER_YAML_MARK} (pipelines.settings.prepare_environment); edit the first line away to keep your own\n"
        "event_log_storage:\n"
        "  module: pipelines.dagster_storage\n"
        "  class: FastSqliteEventLogStorage\n"
        "  config:\n"
        f"    base_dir: {dagster_home / 'history' / 'runs'}\n"
        "telemetry:\n"
        "  enabled: false\n"
    )
