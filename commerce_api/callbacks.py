"""Signed callbacks from payment providers and carriers: verify, then parse strictly.

A provider on a bad day may send a body we do not understand: a number where an id belongs, an
amount past any real one, JSON nested past any parser's stack. Each gets a 4xx naming the reason
(and a warning in the log, since the provider's side needs a look), never a 500.
"""

from __future__ import annotations

import logging
from typing import Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from commerce_api.errors import ApiError

log = logging.getLogger("smartmall.api.callbacks")
MAX_BODY = 64 * 1024  # bytes; a real callback is a few hundred
Body = TypeVar("Body", bound=BaseModel)


class Verifier(Protocol):
    name: str

    def verify(self, body: bytes, signature: str) -> bool: ...


def _refuse(sender: str, status: int, code: str, message: str) -> ApiError:
    log.warning("callback from %s refused: %s (%s)", sender, code, message)
    return ApiError(status, code, message)


def parse_signed(sender: Verifier, body: bytes, signature: str, model: type[Body]) -> Body:
    """``body`` as ``model`` once its signature verifies; ApiError 413/401/422 otherwise."""
    if len(body) > MAX_BODY:
        raise _refuse(sender.name, 413, "callback_too_large", f"a callback body is at most {MAX_BODY} bytes")
    if not sender.verify(body, signature):
        raise _refuse(sender.name, 401, "bad_signature", "callback signature does not verify")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
        raise _refuse(sender.name, 422, "bad_callback", f"callback body is not understood: {problems}") from exc
