"""``Idempotency-Key`` handling (Spree-style): the same key with the same body returns the first
response; the same key with another body is refused with 422. Keys are per caller and endpoint.

The key row is written in the same transaction as the work it guards. A replay that arrives while
the first request is still running waits for it and answers with its response: on PostgreSQL the
transaction first takes an advisory lock on the key (released at commit), on SQLite the writer
lock taken at BEGIN serialises them anyway. Without that wait the replay would run the work a
second time and fail where the first succeeded (the stock it wanted just reserved: a "409
out_of_stock" for a purchase that went through). Should two still race (another database), only
one can insert the key: the other's transaction rolls back whole and it answers with the stored
response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from commerce_api.clock import utcnow
from commerce_api.db import core, on_postgresql, transaction
from commerce_api.errors import ApiError
from commerce_api.schema import IdempotencyKey


def request_hash(payload: Any) -> str:
    """The digest of a request body: a pydantic model (dumped here, so only when a key was sent) or plain JSON."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump()
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _wait_for_twin(session: Session, principal: str, endpoint: str, key: str) -> None:
    """Hold the key for this transaction; a request with the same key waits here until it ends."""
    if on_postgresql(session):
        digest = hashlib.sha256(f"{principal}\x00{endpoint}\x00{key}".encode()).digest()
        core(session).execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int.from_bytes(digest[:8], "big", signed=True)})


def _stored(session: Session, principal: str, endpoint: str, key: str, digest: str) -> dict | None:
    row = session.execute(select(IdempotencyKey).where(
        IdempotencyKey.principal == principal, IdempotencyKey.endpoint == endpoint, IdempotencyKey.key == key)
    ).scalar_one_or_none()
    if row is None:
        return None
    if row.request_hash != digest:
        raise ApiError(422, "idempotency_key_reused",
                       "this Idempotency-Key was used with a different request body")
    return row.response


def run(factory: sessionmaker[Session], principal: str, endpoint: str, key: str | None, payload: Any,
        work: Callable[[Session], dict]) -> tuple[dict, bool]:
    """Run ``work`` in a transaction once per key; returns (response, replayed)."""
    if key is None:
        with transaction(factory) as session:
            return work(session), False
    if not 1 <= len(key) <= 128:
        raise ApiError(422, "invalid_idempotency_key", "Idempotency-Key must be 1 to 128 characters")
    digest = request_hash(payload)
    try:
        with transaction(factory) as session:
            _wait_for_twin(session, principal, endpoint, key)
            stored = _stored(session, principal, endpoint, key, digest)
            if stored is not None:
                return stored, True
            response = work(session)
            session.add(IdempotencyKey(principal=principal, endpoint=endpoint, key=key, request_hash=digest,
                                       status_code=200, response=response, created_at=utcnow()))
            session.flush()
            return response, False
    except IntegrityError:
        with transaction(factory) as session:  # the concurrent twin committed first
            stored = _stored(session, principal, endpoint, key, digest)
        if stored is None:
            raise
        return stored, True
