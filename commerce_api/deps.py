"""What the routes share: the app's services, sessions, the caller, pagination and field types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, sessionmaker

from commerce_api.auth import Principal, principal
from commerce_api.logistics import CarrierAdapter
from commerce_api.payments import Payments
from commerce_api.rate_limit import RateLimits
from commerce_api.shelf import Shelf
from commerce_api.versioned_cache import VersionedCache
from data.settings import Settings
from serving.live import LiveSnapshot

# identifiers and short texts: bounded so that nothing oversized reaches the database
Ident = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
# free text: no control characters (PostgreSQL cannot store NUL, and none belongs in a name)
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
Text1000 = Annotated[str, StringConstraints(max_length=1000, pattern=r"^[^\x00]*$")]
Money = Annotated[int, Field(ge=0, le=10**12, description="minor units (fen / cents)")]
Quantity = Annotated[int, Field(gt=0, le=100_000)]


class Strict(BaseModel):
    """A request body: no unknown fields, and no coercion: ``"quantity": true`` or ``"2"`` is refused,
    not read as 1 or 2 (a client that sends those has a bug we should not hide). Dates and times are
    the exception, marked ``Field(strict=False)``: JSON carries them as ISO 8601 strings."""

    model_config = ConfigDict(extra="forbid", strict=True)


@dataclass
class Services:
    settings: Settings
    sessions: sessionmaker[Session]  # for writes: use with ``db.transaction``
    payments: Payments
    carrier: CarrierAdapter
    reads: sessionmaker[Session]  # for requests that only read (see ``db.make_read_sessionmaker``)
    serving: LiveSnapshot  # the published version of what the models know (``serving.live``)
    shelf: Shelf  # what recommendations may show, held briefly (``commerce_api.shelf``)
    # catalogue pages as JSON, per catalogue_version (per app: another database has other versions)
    catalogue_pages: VersionedCache[bytes] = field(default_factory=VersionedCache)
    limits: RateLimits | None = None  # write and key-guessing limits (``commerce_api.rate_limit``)

    def read_connection(self) -> Connection:
        """A Core connection like the ``reads`` sessions, for the hot read paths (stock, till scans):
        rows without an ORM session cost about 0.1 ms less per request."""
        return self.reads.kw["bind"].connect()


# Dependencies that never block are ``async def``: FastAPI runs a plain ``def`` dependency in the
# thread pool, a thread hop per dependency per request (measured: a third of a stock read's CPU).
async def services(request: Request) -> Services:
    return request.app.state.services


Caller = Annotated[Principal, Depends(principal)]
Svc = Annotated[Services, Depends(services)]


class _OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)  # ~15x faster than json.dumps here


def json_as_is(body: dict, status_code: int = 200) -> JSONResponse:
    """The answer of a hot path whose body is plain JSON already (str, int, None, lists and dicts of
    them). A sync route that returns a dict has FastAPI validate and re-encode it, and run the
    validation in the thread pool: a second thread hop per request, queued behind the other requests
    under load (measured: ~0.25 ms of a checkout's CPU; stock reads 2,404-2,527 -> 2,782-2,896/s).
    Declare the route's ``response_model`` (``commerce_api/responses.py``): FastAPI does not apply it
    to a response returned as is, but the OpenAPI spec documents it and the schemathesis tests hold
    every answer to it."""
    return _OrjsonResponse(body, status_code=status_code)


@dataclass
class Page:
    limit: int
    offset: int


async def page(limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> Page:
    return Page(limit, offset)


Paging = Annotated[Page, Depends(page)]


def paginate(session: Session, query, p: Page, render) -> dict[str, Any]:
    """One page of ``query`` with the total, in one round trip (the total rides on each row as a window
    count; a page past the end counts separately). ``render`` gets the entity or value when the query
    selects one, else the row."""
    whole_row = len(query.column_descriptions) > 1
    rows = session.execute(query.add_columns(func.count().over()).limit(p.limit).offset(p.offset)).all()
    if rows:
        total = rows[0][-1]
    elif p.offset:
        total = session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    else:
        total = 0
    return {"items": [render(r if whole_row else r[0]) for r in rows], "total": int(total), "limit": p.limit, "offset": p.offset}


def query_model(model: type[BaseModel]) -> tuple[Any, dict[str, Any]]:
    """For a hot route: a dependency that validates the whole query string against ``model`` in one
    pydantic call, and the ``openapi_extra`` that documents its fields as query parameters.

    FastAPI extracts each declared query parameter on its own, re-inspecting the type annotation per
    request (~15 us a parameter on this machine: most of a recommendation answered from memory,
    ``bench/serving_http.py``). Errors are FastAPI's own 422 (``RequestValidationError``, loc
    ``["query", field]``); unknown parameters are ignored, as FastAPI does."""
    schema = model.model_json_schema()
    if "$defs" in schema:
        raise TypeError(f"{model.__name__}: nested models cannot be documented as query parameters")
    required = set(schema.get("required", ()))
    lists = {name for name, prop in schema["properties"].items() if prop.get("type") == "array"}
    parameters = [{"name": name, "in": "query", "required": name in required, "schema": prop,
                   **({"description": prop["description"]} if "description" in prop else {})}
                  for name, prop in schema["properties"].items()]

    async def parse(request: Request) -> BaseModel:
        q = request.query_params
        data = {name: q.getlist(name) if name in lists else q[name] for name in model.model_fields if name in q}
        try:
            return model.model_validate(data)
        except ValidationError as e:
            raise RequestValidationError([{**err, "loc": ("query", *err["loc"])}
                                          for err in e.errors(include_url=False)]) from None

    return parse, {"parameters": parameters}
