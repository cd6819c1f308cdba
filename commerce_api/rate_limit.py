"""Rate limits, per API worker process: token buckets, so a steady client within the rate is never
refused while a burst beyond it (a script gone wrong, a key guesser) is, with ``429`` and the
seconds to wait in ``Retry-After``.

- **Writes** (POST, PUT, PATCH, DELETE) per API key of the keys public clients hold (shoppers'
  apps, store tills): ``COMMERCE_WRITE_RATE`` a second, bursts of ``COMMERCE_WRITE_BURST``. Service
  and admin keys belong to back-office integrations and are not limited.
- **Unknown keys** per client address (the login-like path: guessing a key): after
  ``COMMERCE_AUTH_FAILURE_BURST`` unknown keys the address may try one more every
  ``1 / COMMERCE_AUTH_FAILURE_RATE`` seconds; a key it already used successfully still works.

Per worker: with N workers a key can reach N times the rate (connections spread over the workers),
a bound that holds without a shared store on the hot path.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from commerce_api.errors import ApiError
from data.settings import Settings

_MAX_IDENTITIES = 100_000  # buckets kept; the oldest go first (a full bucket costs nothing to forget)


@dataclass
class TokenBuckets:
    """One bucket per identity: ``rate`` tokens a second up to ``burst``; ``take`` spends one."""

    rate: float
    burst: float
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # identity -> (tokens, at)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _level(self, identity: str, now: float) -> float:
        tokens, at = self._buckets.get(identity, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def take(self, identity: str, now: float | None = None) -> float:
        """Spend a token; returns 0 when there was one, else the seconds until there is."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens = self._level(identity, now)
            if tokens < 1:
                self._buckets[identity] = (tokens, now)
                return (1 - tokens) / self.rate
            if len(self._buckets) >= _MAX_IDENTITIES and identity not in self._buckets:
                self._buckets.pop(next(iter(self._buckets)))
            self._buckets[identity] = (tokens - 1, now)
            return 0.0

    def waiting(self, identity: str, now: float | None = None) -> float:
        """Seconds until ``identity`` has a token (0: it has one), without spending it."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens = self._level(identity, now)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


def too_many(what: str, wait: float) -> ApiError:
    seconds = max(1, math.ceil(wait))
    return ApiError(429, "rate_limited", f"too many {what}; retry in {seconds} s", {"retry_after": seconds},
                    headers={"Retry-After": str(seconds)})


WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LIMITED_ROLES = frozenset({"shopper", "store_staff"})


@dataclass
class RateLimits:
    writes: TokenBuckets  # per API key
    auth_failures: TokenBuckets  # per client address

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(TokenBuckets(settings.write_rate, settings.write_burst),
                   TokenBuckets(settings.auth_failure_rate, settings.auth_failure_burst))
