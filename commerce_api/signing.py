"""The signing secrets of the payment providers and the carrier (``data.settings``): the API does
not start without them, and a development or demo install can generate its own."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from data.settings import PROVIDER_SECRETS, Settings, env_name

# the environment variable of each provider's secret
SECRET_VARS = {provider: env_name(field) for provider, field in PROVIDER_SECRETS.items()}
MIN_SECRET_LENGTH = 16


class MissingSecrets(RuntimeError):
    """A signing secret is unset or too short to resist guessing: the API does not start without."""


def signing_secrets(settings: Settings) -> dict[str, str]:
    """The secret per provider; ``MissingSecrets`` naming what to set when one is unset or short."""
    found = settings.provider_secrets()
    weak = [SECRET_VARS[name] for name, value in found.items() if len(value) < MIN_SECRET_LENGTH]
    if weak:
        raise MissingSecrets(
            f"set {', '.join(weak)} (at least {MIN_SECRET_LENGTH} characters each): the payment and carrier "
            f"callbacks are verified with them. For a development or demo install, "
            f"'smartmall api init-secrets' generates them into {settings.secrets_file}")
    return found


def init_secrets(settings: Settings) -> tuple[Settings, Path, list[str]]:
    """Generate the secrets missing from ``settings.secrets_file`` (random, readable by the owner
    only). Returns the settings read again (now with them), the file and the names generated.
    Existing ones are kept: callbacks signed with them stay valid."""
    path = settings.secrets_file
    stored = json.loads(path.read_text()) if path.exists() else {}
    new = [name for name in PROVIDER_SECRETS if not stored.get(name)]
    if new:
        stored.update({name: secrets.token_urlsafe(32) for name in new})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(json.dumps(stored, indent=2))
        tmp.replace(path)
        settings = settings.reread()
    return settings, path, new


def hmac_hex(secret: str, body: bytes) -> str:
    """HMAC-SHA256 of ``body`` under ``secret``, hex: a callback's ``X-Signature``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verifies(body: bytes, signature: str, secret: str, previous: str = "") -> bool:
    """``signature`` is ``body``'s under the secret, or under the one being rotated out."""
    return any(hmac.compare_digest(hmac_hex(key, body), signature or "") for key in (secret, previous) if key)
