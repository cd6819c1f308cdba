"""Where smartmall keeps its files, per environment (``SMARTMALL_HOME``, default ``<repo>/data``)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from data.contract import MAX_ABS_QUANTITY
from serving.marts_snapshot import SNAPSHOT_NAME

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
DEFAULT_START_DATE = "2024-01-01"
# DuckDB may take most of the machine by default; cap it so the pipeline fits beside other work.
DEFAULT_DUCKDB_MEMORY_LIMIT = "4GB"


@dataclass(frozen=True)
class Tunable:
    """A setting a user may change: its environment variable, default, type and meaning."""

    env: str
    default: str
    kind: type
    help: str


# Every setting of the pipeline a user may need, read here and nowhere else; `smartmall status`
# shows each one's effective value and where it came from.
TUNABLES: dict[str, Tunable] = {
    "forecast_horizon_weeks": Tunable("SMARTMALL_FORECAST_HORIZON_WEEKS", "8", int,
                                      "weeks the demand forecasts look ahead (13 = a quarter)"),
    "churn_horizon_days": Tunable("SMARTMALL_CHURN_HORIZON_DAYS", "90", int,
                                  "churn = no purchase within this many days"),
    "rfm_snapshots": Tunable("SMARTMALL_RFM_SNAPSHOTS", "12", int, "monthly RFM as-of dates kept in customer_rfm"),
    "rules_min_support": Tunable("SMARTMALL_RULES_MIN_SUPPORT", "0.005", float,
                                 "association rules: minimum share of baskets holding an itemset"),
    "rules_max_len": Tunable("SMARTMALL_RULES_MAX_LEN", "3", int, "association rules: largest itemset"),
    "rules_max_basket_items": Tunable("SMARTMALL_RULES_MAX_BASKET_ITEMS", "100", int,
                                      "association rules: larger baskets are left out (and counted)"),
    "supplier_lead_days": Tunable("SMARTMALL_SUPPLIER_LEAD_DAYS", "14", float,
                                  "replenishment: days from a purchase order to the goods"),
    "coupon_send_share": Tunable("SMARTMALL_COUPON_SEND_SHARE", "0.2", float,
                                 "coupon targeting: share of members flagged to send"),
    "recs_window_days": Tunable("SMARTMALL_RECS_WINDOW_DAYS", "28", int,
                                "recommendations: days of the backtest's test window"),
    "recs_active_days": Tunable("SMARTMALL_RECS_ACTIVE_DAYS", "365", int,
                                "recommendations: customers active within this many days get lists"),
    "max_line_quantity": Tunable("SMARTMALL_MAX_LINE_QUANTITY", str(MAX_ABS_QUANTITY), int,
                                 "contract: largest |units| of one transaction line, larger ones are quarantined "
                                 "(raise it for aggregated feeds; movements and stock allow 100x)"),
    "duckdb_memory_limit": Tunable("SMARTMALL_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT, str,
                                   "DuckDB's memory cap"),
}


@dataclass(frozen=True)
class Settings:
    home: Path

    def get(self, name: str):
        """The effective value of a tunable setting (environment variable, else the default), typed;
        a value that does not parse stops with the variable's name."""
        t = TUNABLES[name]
        raw = os.environ.get(t.env, t.default)
        try:
            value = t.kind(raw)
        except ValueError:
            raise SystemExit(f"error: {t.env}={raw!r} is not a valid {t.kind.__name__} ({t.help})") from None
        if t.kind in (int, float) and value <= 0:
            raise SystemExit(f"error: {t.env}={raw!r} must be > 0 ({t.help})")
        return value

    def effective(self) -> list[tuple[str, str, object, str]]:
        """(environment variable, meaning, value, 'environment' | 'default') of every tunable setting."""
        return [(t.env, t.help, self.get(name), "environment" if t.env in os.environ else "default")
                for name, t in TUNABLES.items()]

    @property
    def landing(self) -> Path:
        """Files waiting to be ingested, in the layout of ``data.contract``."""
        return self.home / "landing"

    @property
    def warehouse(self) -> Path:
        """The embedded DuckDB warehouse file."""
        return self.home / "warehouse" / "smartmall.duckdb"

    @property
    def marts_snapshot(self) -> Path:
        """The read-only copy of the marts the dashboards read (``serving.marts_snapshot``)."""
        return self.home / "serving" / SNAPSHOT_NAME

    @property
    def segments(self) -> Path:
        """Saved member segments (``serving.segments``): the marketers' hand-off to campaigns."""
        return self.home / "segments"

    @property
    def registry(self) -> Path:
        """Model registry folder (versioned model cards and artefacts; see serving/registry.py)."""
        return self.home / "registry"

    @property
    def churn_horizon_days(self) -> int:
        return self.get("churn_horizon_days")

    @property
    def duckdb_memory_limit(self) -> str:
        return self.get("duckdb_memory_limit")

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


def put_dbt_on_path() -> None:
    """dbt is installed beside this Python; dagster-dbt calls it by name."""
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")


def prepare_environment(settings: Settings) -> None:
    """Environment the dbt CLI and Dagster need: dbt on PATH, the warehouse path, a Dagster home."""
    put_dbt_on_path()
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
