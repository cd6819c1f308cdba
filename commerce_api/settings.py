"""Settings of the commerce API, from the environment (one place, read once per app)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# the signing secrets of the payment providers and the carrier, and where each is read from
SECRET_VARS = {"wechat_pay": "COMMERCE_WECHAT_PAY_SECRET", "alipay": "COMMERCE_ALIPAY_SECRET",
               "simulated_carrier": "COMMERCE_CARRIER_SECRET"}
MIN_SECRET_LENGTH = 16


class MissingSecrets(RuntimeError):
    """A signing secret is unset or too short to resist guessing: the API does not start without."""


def _home() -> Path:
    return Path(os.environ.get("SMARTMALL_HOME", REPO_ROOT / "data")).resolve()


def secrets_file() -> Path:
    """Generated secrets of a development or demo install (``smartmall api init-secrets``)."""
    return _home() / "commerce" / "secrets.json"


def _stored_secrets() -> dict[str, str]:
    path = secrets_file()
    return json.loads(path.read_text()) if path.exists() else {}


def _provider_secrets() -> dict[str, str]:
    """Each secret from its environment variable, else from ``secrets_file()``; "" when neither has it.
    There is no built-in default: a secret in the source would let anyone who reads it sign a
    'paid' callback."""
    stored = _stored_secrets()
    return {name: os.environ.get(var) or stored.get(name) or "" for name, var in SECRET_VARS.items()}


def init_secrets() -> tuple[Path, list[str]]:
    """Generate the secrets missing from ``secrets_file()`` (random, readable by the owner only);
    returns the file and the names generated. Existing ones are kept: callbacks signed with them
    stay valid."""
    path = secrets_file()
    stored = _stored_secrets()
    new = [name for name in SECRET_VARS if not stored.get(name)]
    if new:
        stored.update({name: secrets.token_urlsafe(32) for name in new})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(json.dumps(stored, indent=2))
        tmp.replace(path)
    return path, new


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
    provider_secrets: dict[str, str] = field(default_factory=_provider_secrets)
    # after-sale automatic approval
    return_window_days: int = 7
    auto_approve_limit: int = 50_000  # minor units; gold and diamond members get twice this
    non_returnable_categories: tuple[str, ...] = ("Fresh Food", "Gift Cards", "Underwear")
    threads: int = field(default_factory=lambda: int(os.environ.get("COMMERCE_THREADS", "2")))
    pool_size: int = field(default_factory=lambda: int(os.environ.get("COMMERCE_DB_POOL", "20")))

    def signing_secrets(self) -> dict[str, str]:
        """The provider and carrier secrets; ``MissingSecrets`` naming what to set when one is unset or short."""
        weak = [SECRET_VARS[name] for name, value in self.provider_secrets.items() if len(value) < MIN_SECRET_LENGTH]
        if weak:
            raise MissingSecrets(
                f"set {', '.join(weak)} (at least {MIN_SECRET_LENGTH} characters each): the payment and carrier "
                f"callbacks are verified with them. For a development or demo install, "
                f"'smartmall api init-secrets' generates them into {secrets_file()}")
        return self.provider_secrets
