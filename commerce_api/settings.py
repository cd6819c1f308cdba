"""Settings of the commerce API, from the environment (one place, read once per app)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _home() -> Path:
    return Path(os.environ.get("SMARTMALL_HOME", REPO_ROOT / "data")).resolve()


@dataclass(frozen=True)
class ApiSettings:
    """``COMMERCE_DATABASE_URL`` picks the database: PostgreSQL in production
    (``postgresql+psycopg://user@host/db``), SQLite under ``$SMARTMALL_HOME`` by default."""

    database_url: str = field(default_factory=lambda: os.environ.get(
        "COMMERCE_DATABASE_URL", f"sqlite:///{_home() / 'commerce' / 'commerce.db'}"))
    landing: Path = field(default_factory=lambda: _home() / "landing")
    # the platform's DuckDB warehouse, read (read-only) by `smartmall api seed`
    warehouse: Path = field(default_factory=lambda: _home() / "warehouse" / "smartmall.duckdb")
    # parquet snapshot of the recommendation marts, written by the pipeline (pipelines/recommend.py)
    recommendations_dir: Path = field(default_factory=lambda: _home() / "serving" / "recommendations")
    reservation_ttl_seconds: int = field(default_factory=lambda: int(os.environ.get("COMMERCE_RESERVATION_TTL", "900")))
    sweep_interval_seconds: float = field(default_factory=lambda: float(os.environ.get("COMMERCE_SWEEP_INTERVAL", "30")))
    # signing secrets of the payment providers and carriers (simulators use the same scheme)
    provider_secrets: dict[str, str] = field(default_factory=lambda: {
        "wechat_pay": os.environ.get("COMMERCE_WECHAT_PAY_SECRET", "dev-wechat-secret"),
        "alipay": os.environ.get("COMMERCE_ALIPAY_SECRET", "dev-alipay-secret"),
        "simulated_carrier": os.environ.get("COMMERCE_CARRIER_SECRET", "dev-carrier-secret"),
    })
    # after-sale automatic approval
    return_window_days: int = 7
    auto_approve_limit: int = 50_000  # minor units; gold and diamond members get twice this
    non_returnable_categories: tuple[str, ...] = ("Fresh Food", "Gift Cards", "Underwear")
    threads: int = field(default_factory=lambda: int(os.environ.get("COMMERCE_THREADS", "2")))
    pool_size: int = field(default_factory=lambda: int(os.environ.get("COMMERCE_DB_POOL", "20")))
