"""Signed callbacks from payment providers and carriers: verify, then parse strictly.

A provider on a bad day may send a body we do not understand: a number where an id belongs, an
amount past any real one, JSON nested past any parser's stack. Each gets a 4xx naming the reason
(and a warning in the log, since the provider's side needs a look), never a 500.

Every callback says when it was sent (``sent_at``, Unix seconds, inside the signed body): one
outside the replay window (``COMMERCE_CALLBACK_WINDOW_SECONDS`` either side of now) is refused, so
a captured callback cannot be replayed later, even though the replay of a fresh one stays harmless
(each is applied once by its provider transaction id or waybill state).
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Protocol, TypeVar

from pydantic import BaseModel, Field, ValidationError

from commerce_api.clock import utcnow
from commerce_api.errors import ApiError

log = logging.getLogger("smartmall.api.callbacks")
MAX_BODY = 64 * 1024  # bytes; a real callback is a few hundred
DEFAULT_WINDOW_SECONDS = 300


class SignedCallback(BaseModel):
    """What every signed callback carries: when it was sent."""

    sent_at: int = Field(ge=0, le=2**40, description="when the sender sent it, Unix seconds (UTC)")


Body = TypeVar("Body", bound=SignedCallback)


def now_seconds() -> int:
    """Now as Unix seconds, on the API's clock (``commerce_api.clock``)."""
    return int(utcnow().replace(tzinfo=UTC).timestamp())


class Verifier(Protocol):
    name: str

    def verify(self, body: bytes, signature: str) -> bool: ...


def refuse(sender: str, status: int, code: str, message: str) -> ApiError:
    """The error for a refused callback, logged with its reason (the sender's side needs a look)."""
    log.warning("callback from %s refused: %s (%s)", sender, code, message)
    return ApiError(status, code, message)


def parse_signed(sender: Verifier, body: bytes, signature: str, model: type[Body],
                 window_seconds: int = DEFAULT_WINDOW_SECONDS) -> Body:
    """``body`` as ``model`` once its signature verifies and it was sent within ``window_seconds`` of
    now; ApiError 413/401/422 otherwise."""
    if len(body) > MAX_BODY:
        raise refuse(sender.name, 413, "callback_too_large", f"a callback body is at most {MAX_BODY} bytes")
    if not sender.verify(body, signature):
        raise refuse(sender.name, 401, "bad_signature", "callback signature does not verify")
    try:
        msg = model.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
        raise refuse(sender.name, 422, "bad_callback", f"callback body is not understood: {problems}") from exc
    age = now_seconds() - msg.sent_at
    if abs(age) > window_seconds:
        raise refuse(sender.name, 401, "stale_callback",
                     f"callback sent {age} s from now; accepted within {window_seconds} s (a replay, or a clock off)")
    return msg
