"""The one settings object of smartmall: pipelines, commerce API and dashboards (pydantic-settings).

Each entry point reads it once (the ``smartmall`` CLI, the Dagster definitions, the API app, a
dashboards session) and passes it down; nothing else reads the environment. A value comes from,
first match wins:

1. an argument (``Settings(home=...)``, tests and benchmarks),
2. the environment variable named beside it (``SMARTMALL_*``, ``COMMERCE_*``),
3. the installation's file ``$SMARTMALL_HOME/smartmall.toml`` (keys are the field names, e.g.
   ``forecast_horizon_weeks = 13``),
4. for the signing secrets, ``$SMARTMALL_HOME/commerce/secrets.json`` (``smartmall api init-secrets``),
5. the default here.

``Settings.effective()`` lists every value with where it came from; ``smartmall status`` prints it.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import pydantic_settings
from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from data.contract import MAX_ABS_QUANTITY

REPO_ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = "smartmall.toml"
SECRETS_FILE = Path("commerce") / "secrets.json"
# the payment providers and the carrier whose callbacks are signed, and the field holding each secret
PROVIDER_SECRETS = {"wechat_pay": "wechat_pay_secret", "alipay": "alipay_secret",
                    "simulated_carrier": "carrier_secret"}
# the dashboards' read-only copy of the marts (serving.marts_snapshot); its catalog name must not be
# "marts", the schema inside
SNAPSHOT_NAME = "warehouse_snapshot.duckdb"


class SettingsError(ValueError):
    """A setting that does not parse or is out of range, named by its environment variable."""


def _setting(default: Any, env: str, help: str, **constraints: Any) -> Any:
    return Field(default, validation_alias=env, description=help, **constraints)


class Settings(BaseSettings):
    """Every setting a retailer may change. Paths under ``home`` are derived (properties below)."""

    model_config = SettingsConfigDict(case_sensitive=True, populate_by_name=True, frozen=True, extra="ignore")

    # where everything lives
    home: Path = _setting(REPO_ROOT / "data", "SMARTMALL_HOME",
                          "folder of this installation: landing files, warehouse, registry, commerce database")
    duckdb_memory_limit: str = _setting("4GB", "SMARTMALL_DUCKDB_MEMORY_LIMIT",
                                        "DuckDB's memory cap (the pipeline fits beside other work)")
    csv_fallback_encoding: str = _setting("gb18030", "SMARTMALL_CSV_FALLBACK_ENCODING",
                                          "a landed CSV that is not UTF-8 is read in this encoding (GB18030 reads "
                                          "GBK exports); 'none': such a file is quarantined")
    # the pipeline's models
    forecast_horizon_weeks: int = _setting(8, "SMARTMALL_FORECAST_HORIZON_WEEKS",
                                           "weeks the demand forecasts look ahead (13 = a quarter)", gt=0)
    churn_horizon_days: int = _setting(90, "SMARTMALL_CHURN_HORIZON_DAYS",
                                       "churn = no purchase within this many days", gt=0)
    rfm_snapshots: int = _setting(12, "SMARTMALL_RFM_SNAPSHOTS", "monthly RFM as-of dates kept in customer_rfm", gt=0)
    rules_min_support: float = _setting(0.005, "SMARTMALL_RULES_MIN_SUPPORT",
                                        "association rules: minimum share of baskets holding an itemset", gt=0, le=1)
    rules_max_len: int = _setting(3, "SMARTMALL_RULES_MAX_LEN", "association rules: largest itemset", ge=2)
    rules_max_basket_items: int = _setting(100, "SMARTMALL_RULES_MAX_BASKET_ITEMS",
                                           "association rules: larger baskets are left out (and counted)", gt=0)
    supplier_lead_days: float = _setting(14.0, "SMARTMALL_SUPPLIER_LEAD_DAYS",
                                         "replenishment: days from a purchase order to the goods", gt=0)
    coupon_send_share: float = _setting(0.2, "SMARTMALL_COUPON_SEND_SHARE",
                                        "coupon targeting: share of members flagged to send", gt=0, le=1)
    recs_window_days: int = _setting(28, "SMARTMALL_RECS_WINDOW_DAYS",
                                     "recommendations: days of the backtest's test window", gt=0)
    recs_active_days: int = _setting(365, "SMARTMALL_RECS_ACTIVE_DAYS",
                                     "recommendations: customers active within this many days get lists", gt=0)
    max_line_quantity: int = _setting(MAX_ABS_QUANTITY, "SMARTMALL_MAX_LINE_QUANTITY",
                                      "contract: largest |units| of one transaction line, larger ones are "
                                      "quarantined (raise it for aggregated feeds; movements and stock allow 100x)",
                                      gt=0)
    # the serving publish (serving.published)
    serving_max_row_change: float = _setting(0.5, "SMARTMALL_SERVING_MAX_ROW_CHANGE",
                                             "serving: a new version whose table rows move by more than this share "
                                             "from the live one is refused", gt=0)
    serving_keep_versions: int = _setting(10, "SMARTMALL_SERVING_KEEP_VERSIONS",
                                          "serving: published versions kept for rollback", gt=0)
    # the warehouse engine (pipelines/warehouse.py, pipelines/clickhouse.py)
    warehouse_kind: Literal["duckdb", "clickhouse"] = _setting(
        "duckdb", "SMARTMALL_WAREHOUSE", "the warehouse: duckdb (embedded, one machine) or clickhouse (CLICKHOUSE_URL)")
    clickhouse_url: str | None = _setting(None, "CLICKHOUSE_URL",
                                          "ClickHouse: chdb:///abs/path (the embedded engine) or "
                                          "http(s)://user:password@host:port/db?cluster=name")
    events_retention_days: int | None = _setting(None, "SMARTMALL_EVENTS_RETENTION_DAYS",
                                                 "ClickHouse: raw tracking events older than this many days are "
                                                 "dropped by a TTL (none: kept)", gt=0)
    # the commerce API
    commerce_database_url: str | None = _setting(None, "COMMERCE_DATABASE_URL",
                                                 "the API's database: postgresql+psycopg://user@host/db in "
                                                 "production (default: SQLite under SMARTMALL_HOME)")
    reservation_ttl_seconds: int = _setting(900, "COMMERCE_RESERVATION_TTL",
                                            "an unpaid checkout's stock is released after this many seconds", gt=0)
    sweep_interval_seconds: float = _setting(30.0, "COMMERCE_SWEEP_INTERVAL",
                                             "seconds between sweeps of expired reservations", gt=0)
    api_threads: int = _setting(2, "COMMERCE_THREADS", "request threads per API worker", gt=0)
    currency_code: str = _setting("CNY", "COMMERCE_CURRENCY", "the currency of every amount (ISO 4217); a payment "
                                  "callback in another is refused", pattern=r"^[A-Z]{3}$")
    write_rate: float = _setting(50.0, "COMMERCE_WRITE_RATE", "writes a second per shopper or store-staff API key "
                                 "(per API worker; bursts of COMMERCE_WRITE_BURST), beyond them 429", gt=0)
    write_burst: int = _setting(100, "COMMERCE_WRITE_BURST", "writes one such key may send at once", gt=0)
    auth_failure_rate: float = _setting(0.2, "COMMERCE_AUTH_FAILURE_RATE", "unknown API keys a second one client "
                                        "address may try once its burst is spent, beyond them 429", gt=0)
    auth_failure_burst: int = _setting(20, "COMMERCE_AUTH_FAILURE_BURST", "unknown API keys one client address may "
                                       "try at once", gt=0)
    callback_window_seconds: int = _setting(300, "COMMERCE_CALLBACK_WINDOW_SECONDS",
                                            "payment and carrier callbacks sent further than this from now are "
                                            "refused (replays)", gt=0)
    max_body_bytes: int = _setting(2 * 2**20, "COMMERCE_MAX_BODY_BYTES",
                                   "a request body larger than this is refused (413) before it is read; the "
                                   "largest legitimate one is an event batch of 1,000 events", gt=0)
    max_inflight: int = _setting(48, "COMMERCE_MAX_INFLIGHT",
                                 "requests one API worker holds at once (running or queued for its threads); "
                                 "beyond them 503 + Retry-After at once, so admitted requests keep their latency "
                                 "(the ceiling of an adaptive limit: see COMMERCE_ADMISSION_TARGET_MS)", gt=0)
    admission_target_ms: float = _setting(250.0, "COMMERCE_ADMISSION_TARGET_MS",
                                          "a request a worker holds longer than this cuts its admission limit by "
                                          "a quarter (down to 4); each one answered sooner raises it again, up to "
                                          "COMMERCE_MAX_INFLIGHT", gt=0)
    db_pool_size: int = _setting(20, "COMMERCE_DB_POOL", "database connections per API worker", gt=0)
    shelf_seconds: float = _setting(1.0, "COMMERCE_SHELF_SECONDS",
                                    "recommendations: each API worker holds what may be shown (listed, channels, "
                                    "stock at a location) this long; an item sold out through another worker may "
                                    "be recommended that long (checkout never oversells); 0: read on every request",
                                    ge=0)
    return_window_days: int = _setting(7, "COMMERCE_RETURN_WINDOW_DAYS",
                                       "days after delivery a return is accepted", ge=0)
    auto_approve_limit: int = _setting(50_000, "COMMERCE_AUTO_APPROVE_LIMIT",
                                       "returns up to this refund (minor units) are approved at once; "
                                       "times the tier's return_limit_factor (tier_rules: 2 for gold and diamond)", ge=0)
    points_expiry_days: int = _setting(365, "COMMERCE_POINTS_EXPIRY_DAYS",
                                       "loyalty: points expire this many days after they become spendable", gt=0)
    delivery_fee: int = _setting(0, "COMMERCE_DELIVERY_FEE",
                                 "delivery orders pay this fee (minor units) below the member tier's free-shipping "
                                 "threshold (tier_rules; guests: the base tier's); 0: no fee", ge=0)
    points_cap_percent: int = _setting(50, "COMMERCE_POINTS_CAP_PERCENT",
                                       "loyalty: points pay at most this percent of an order", ge=0, le=100)
    tier_grace_days: int = _setting(30, "COMMERCE_TIER_GRACE_DAYS",
                                    "loyalty: a member keeps a tier at least this many days before a downgrade",
                                    ge=0)
    referral_points: int = _setting(500, "COMMERCE_REFERRAL_POINTS",
                                    "loyalty: points to each side once a referred member's first order completes",
                                    ge=1)
    non_returnable_categories: tuple[str, ...] = _setting(
        ("Fresh Food", "Gift Cards", "Underwear"), "COMMERCE_NON_RETURNABLE_CATEGORIES",
        "categories never returned (a JSON list in the environment)")
    wechat_pay_secret: SecretStr | None = _setting(None, "COMMERCE_WECHAT_PAY_SECRET",
                                                   "signs WeChat Pay callbacks")
    alipay_secret: SecretStr | None = _setting(None, "COMMERCE_ALIPAY_SECRET", "signs Alipay callbacks")
    carrier_secret: SecretStr | None = _setting(None, "COMMERCE_CARRIER_SECRET", "signs the carrier's callbacks")
    # key rotation without downtime: the new secret above, the one it replaces here until every sender has moved
    wechat_pay_secret_previous: SecretStr | None = _setting(None, "COMMERCE_WECHAT_PAY_SECRET_PREVIOUS",
                                                            "rotation: the old WeChat Pay secret, still accepted")
    alipay_secret_previous: SecretStr | None = _setting(None, "COMMERCE_ALIPAY_SECRET_PREVIOUS",
                                                        "rotation: the old Alipay secret, still accepted")
    carrier_secret_previous: SecretStr | None = _setting(None, "COMMERCE_CARRIER_SECRET_PREVIOUS",
                                                         "rotation: the carrier's old secret, still accepted")
    # the dashboards
    currency: str = _setting("¥", "SMARTMALL_CURRENCY", "dashboards: the currency sign of money figures",
                             min_length=1)
    marts_snapshot_file: Path | None = _setting(None, "SMARTMALL_MARTS_SNAPSHOT",
                                                "dashboards: the marts snapshot they read "
                                                "(default: SMARTMALL_HOME/serving)")
    dashboards_source: Literal["auto", "snapshot", "clickhouse"] = _setting(
        "auto", "SMARTMALL_DASHBOARDS_SOURCE",
        "dashboards: read the marts snapshot, or ClickHouse's marts directly (auto: directly on a ClickHouse "
        "server, the snapshot otherwise)")
    segments_dir: Path | None = _setting(None, "SMARTMALL_SEGMENTS_DIR",
                                         "saved member segments (default: SMARTMALL_HOME/segments)")
    registry_dir: Path | None = _setting(None, "SMARTMALL_REGISTRY_DIR",
                                         "model registry (default: SMARTMALL_HOME/registry)")

    _origins: dict[str, str] = PrivateAttr(default_factory=dict)
    _arguments: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("home", "marts_snapshot_file", "segments_dir", "registry_dir")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        return path.expanduser().resolve() if path is not None else None

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None
        except pydantic_settings.SettingsError as exc:  # a value that is not the JSON a list needs
            field = next((n for n in type(self).model_fields if f'"{n}"' in str(exc)), None)
            env = env_name(field) if field else "?"
            raise SettingsError(f"invalid setting: {env}={os.environ.get(env)!r} is not valid JSON "
                                f"({type(self).model_fields[field].description if field else exc})") from None
        files = _file_values(self.home)
        self._origins = {name: _origin(name, values, files) for name in type(self).model_fields}
        self._arguments = dict(values)

    def reread(self) -> Settings:
        """The settings read again with the same arguments (after a settings file was written)."""
        return type(self)(**self._arguments)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _HomeFiles(settings_cls)

    # -- paths derived from home ------------------------------------------------------------------
    @property
    def csv_encoding_fallback(self) -> str | None:
        """The encoding a non-UTF-8 CSV is read in; None: such a file is quarantined."""
        return None if self.csv_fallback_encoding.lower() == "none" else self.csv_fallback_encoding

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
        return self.marts_snapshot_file or self.home / "serving" / SNAPSHOT_NAME

    @property
    def segments(self) -> Path:
        """Saved member segments (``serving.segments``): the marketers' hand-off to campaigns."""
        return self.segments_dir or self.home / "segments"

    @property
    def registry(self) -> Path:
        """Model registry folder (versioned model cards and artefacts; ``serving.registry``)."""
        return self.registry_dir or self.home / "registry"

    @property
    def published_dir(self) -> Path:
        """The versioned snapshot of what the models know, which the API serves (``serving.published``)."""
        return self.home / "serving" / "published"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"

    @property
    def database_url(self) -> str:
        """The commerce API's database."""
        return self.commerce_database_url or f"sqlite:///{self.home / 'commerce' / 'commerce.db'}"

    @property
    def secrets_file(self) -> Path:
        """Generated signing secrets of a development or demo install (``smartmall api init-secrets``)."""
        return self.home / SECRETS_FILE

    def provider_secrets(self) -> dict[str, str]:
        """Signing secret per provider ("" when unset); there is no built-in default: a secret in the
        source would let anyone who reads it sign a 'paid' callback."""
        return {provider: (getattr(self, name).get_secret_value() if getattr(self, name) else "")
                for provider, name in PROVIDER_SECRETS.items()}

    def previous_provider_secrets(self) -> dict[str, str]:
        """The secrets being rotated out, still accepted on callbacks ("" when none)."""
        return {provider: (getattr(self, f"{name}_previous").get_secret_value()
                           if getattr(self, f"{name}_previous") else "") for provider, name in PROVIDER_SECRETS.items()}

    def first_feed_day(self, default: str = "2024-01-01") -> str:
        """First daily partition: the manifest's start, else the earliest landed day, else ``default``."""
        manifest = self.landing / "_manifest.json"
        if manifest.exists():
            return json.loads(manifest.read_text())["start"]
        days = self.landed_days()
        return days[0] if days else default

    def landed_days(self) -> list[str]:
        return sorted({p.name[5:] for p in self.landing.glob("*/date=*") if p.is_dir()})

    # -- where each value came from -----------------------------------------------------------------
    def origin(self, name: str) -> str:
        """Where a setting's value came from when it was read: 'argument', 'environment', the file, or 'default'."""
        return self._origins[name]

    def effective(self) -> list[tuple[str, str, str, str]]:
        """(environment variable, effective value, origin, meaning) of every setting; secrets masked."""
        rows = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                shown = f"set ({len(value.get_secret_value())} chars)"
            elif value is None:
                shown = {"commerce_database_url": self.database_url, "marts_snapshot_file": self.marts_snapshot,
                         "segments_dir": self.segments, "registry_dir": self.registry}.get(name, "unset")
            else:
                shown = ", ".join(value) if isinstance(value, tuple) else value
            rows.append((env_name(name), str(shown), self.origin(name), field.description or ""))
        return rows


def env_name(field: str) -> str:
    """The environment variable of a setting."""
    return Settings.model_fields[field].validation_alias


def load_settings(**overrides: Any) -> Settings:
    """The settings of this process, read now (entry points call this once and pass the result down)."""
    return Settings(**overrides)


def _origin(name: str, given: dict[str, Any], files: dict[Path, dict[str, Any]]) -> str:
    env = env_name(name)
    if name in given or env in given:
        return "argument"
    if env in os.environ:
        return "environment"
    return next((str(path) for path, values in files.items() if name in values), "default")


def _explain(exc: ValidationError) -> str:
    """One line per bad setting, named as the user set it."""
    fields = {f.validation_alias: f for f in Settings.model_fields.values()}
    lines = []
    for err in exc.errors():
        key = str(err["loc"][0]) if err["loc"] else "?"
        env = key if key in fields else (env_name(key) if key in Settings.model_fields else key)
        meaning = fields[env].description if env in fields else ""
        lines.append(f"{env}={err.get('input')!r}: {err['msg']} ({meaning})")
    return "invalid setting: " + "; ".join(lines)


def _file_values(home: Path) -> dict[Path, dict[str, Any]]:
    """Values from the installation's files under ``home``: the settings file, then the secrets file."""
    found: dict[Path, dict[str, Any]] = {}
    path = home / SETTINGS_FILE
    if path.exists():
        try:
            found[path] = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: {exc}") from None
        unknown = sorted(set(found[path]) - set(Settings.model_fields))
        if unknown:
            raise SettingsError(f"{path}: unknown settings {', '.join(unknown)} "
                                f"(known: {', '.join(Settings.model_fields)})")
    secrets = home / SECRETS_FILE
    if secrets.exists():
        stored = json.loads(secrets.read_text())
        found[secrets] = {field: stored[p] for p, field in PROVIDER_SECRETS.items() if stored.get(p)}
    return found


class _HomeFiles(PydanticBaseSettingsSource):
    """The files under the home that the arguments or the environment chose (or the default home)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads whole files

    def __call__(self) -> dict[str, Any]:
        home = self.current_state.get("SMARTMALL_HOME") or self.current_state.get("home") \
            or self.settings_cls.model_fields["home"].default
        values: dict[str, Any] = {}
        for found in reversed(list(_file_values(Path(home)).values())):
            values.update(found)
        return values
