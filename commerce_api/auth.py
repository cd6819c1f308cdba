"""API keys with roles. Send ``Authorization: Bearer <key>`` (or ``X-API-Key: <key>``).

Roles: ``shopper`` (bound to one customer: sees and changes only their own carts and orders),
``store_staff`` (bound to one store: acts only for it), ``marketer`` (catalogue and prices),
``service`` (event intake, exports for the pipelines, ERP/CRM integration) and ``admin``.
Keys are stored as SHA-256 hashes; the plain key is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from commerce_api.clock import utcnow
from commerce_api.errors import ApiError
from commerce_api.rate_limit import LIMITED_ROLES, WRITES, too_many
from commerce_api.schema import ApiKey

ROLES = ("shopper", "store_staff", "marketer", "service", "admin")
_CACHE_SECONDS = 30.0  # a revoked key stops working within this


@dataclass(frozen=True)
class Principal:
    key_id: int
    role: str
    customer_id: str | None = None
    store_id: str | None = None

    @property
    def name(self) -> str:
        return f"key:{self.key_id}"

    def require(self, *roles: str) -> Principal:
        if self.role != "admin" and self.role not in roles:
            raise ApiError(403, "forbidden", f"role '{self.role}' may not do this (needs one of: {', '.join(roles)})")
        return self

    def check_customer(self, customer_id: str | None) -> None:
        """A shopper acts only for their own customer id."""
        if self.role == "shopper" and customer_id != self.customer_id:
            raise ApiError(403, "forbidden", "a shopper may act only on their own carts and orders")

    def check_store(self, store_id: str | None) -> None:
        """Store staff act only for their own store."""
        if self.role == "store_staff" and store_id != self.store_id:
            raise ApiError(403, "forbidden", f"store staff of {self.store_id} may not act for {store_id}")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, role: str, *, customer_id: str | None = None, store_id: str | None = None,
               name: str | None = None) -> str:
    """Create an API key; returns the plain key (only its hash is stored)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {ROLES}")
    if role == "shopper" and not customer_id:
        raise ValueError("a shopper key needs a customer_id")
    if role == "store_staff" and not store_id:
        raise ValueError("a store_staff key needs a store_id")
    key = f"sm_{role[:4]}_{secrets.token_urlsafe(24)}"
    session.add(ApiKey(key_hash=hash_key(key), role=role, customer_id=customer_id, store_id=store_id, name=name,
                       active=True, created_at=utcnow()))
    session.flush()
    return key


_cache: dict[str, tuple[float, Principal | None]] = {}


async def principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, or 401. Async so that a cached key costs no thread hop; the
    database is read (in the thread pool) only when the key is not cached."""
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    if not key:
        raise ApiError(401, "unauthenticated", "send an API key: 'Authorization: Bearer <key>'")
    digest = hash_key(key)
    now = time.monotonic()
    services = request.app.state.services
    limits = services.limits
    address = request.client.host if request.client else "unknown"
    hit = _cache.get(digest)
    if hit is None or now - hit[0] > _CACHE_SECONDS:
        # an address that spent its unknown-key allowance waits before any key it has not used is looked up
        if hit is None and limits and (wait := limits.auth_failures.waiting(address)):
            raise too_many("unknown API keys from this address", wait)
        hit = (now, await run_in_threadpool(_lookup, services.reads, digest))
        _cache[digest] = hit
    if hit[1] is None:
        if limits:
            limits.auth_failures.take(address)
        raise ApiError(401, "unauthenticated", "unknown or revoked API key")
    who = hit[1]
    if limits and request.method in WRITES and who.role in LIMITED_ROLES and (wait := limits.writes.take(who.name)):
        raise too_many("writes with this API key", wait)
    return who


def _lookup(reads: sessionmaker[Session], digest: str) -> Principal | None:
    with reads() as session:
        row = session.execute(select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.active)).scalar_one_or_none()
    return Principal(row.id, row.role, row.customer_id, row.store_id) if row else None


def forget_cached_keys() -> None:
    _cache.clear()
