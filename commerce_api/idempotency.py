"""``Idempotency-Key`` handling (Spree-style): the same key with the same body returns the first
response; the same key with another body is refused with 422. Keys are per caller and endpoint.

The key row is written in the same transaction as the work it guards. Two concurrent requests
with one key both run, but only one can insert the key: the other's transaction rolls back whole
(so nothing is done twice) and it answers with the stored response instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from commerce_api.clock import utcnow
from commerce_api.db import transaction
from commerce_api.errors import ApiError
from commerce_api.schema import IdempotencyKey


def request_hash(payload: Any) -> str:
    """The digest of a request body: a pydantic model (dumped here, so only when a key was sent) or plain JSON."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump()
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


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
