"""Personalised recommendations and related items, filtered at serve time by this database's truth.

The lists come from the pipeline's live published version (``serving.published``, held in memory
by ``serving.live`` and switched when a new version goes live). What may be shown is decided here,
on the request, from the commerce database: the SKU and its product are listed, the SKU is visible
in the caller's channel, there is stock available at the location (the customer's home store unless
one is given) or at the warehouse above it, and it is not in the cart. Every answer names the
version it came from in the ``X-Serving-Version`` header.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from commerce_api import responses as R
from commerce_api.auth import principal
from commerce_api.deps import Caller, Ident, Services, Svc, json_as_is, query_model
from commerce_api.errors import ApiError, not_found
from commerce_api.routes.catalogue import Channel
from commerce_api.schema import Sku
from commerce_api.shelf import UnknownLocation
from serving.live import Served

router = APIRouter(tags=["recommendations"])
CANDIDATES = 50  # looked up per request before the filters
SkuList = Annotated[list[Ident], Query(max_length=100)]
VERSION_HEADER = "X-Serving-Version"


def live_version(svc) -> Served:
    """The live published version, or 503 before the first publish."""
    live = svc.serving.get()
    if live is None:
        raise ApiError(503, "not_ready", "recommendations are not built yet: run the pipeline ('smartmall run')")
    return live


async def _showable(svc: Services, skus: list[str], channel: str | None, location_id: str | None) -> set[str]:
    """The SKUs of ``skus`` that are listed, visible in ``channel`` and in stock at the location or its
    parent: from the worker's shelf (``commerce_api.shelf``), the database read only for what it does
    not hold fresh (in the thread pool, so a request answered from memory costs no thread hop)."""
    if not skus:
        return set()
    try:
        return await svc.shelf.showable_async(skus, channel, location_id)
    except UnknownLocation:
        raise not_found("location", location_id) from None


async def _answer(svc: Services, customer_id: str | None, region: str | None, location_id: str | None, n: int,
                  variant: str, channel: str | None, cart: list[str], viewed: list[str]) -> JSONResponse:
    live = live_version(svc)
    index = live.recommendations
    personal = customer_id is not None and (customer_id, variant) in index.customer_row
    candidates = index.recommend(customer_id, CANDIDATES, variant=variant, cart=cart, session_skus=viewed,
                                 region=region)
    showable = await _showable(svc, candidates, channel, location_id)
    items = [sku for sku in candidates if sku in showable][:n]
    answer = json_as_is({"customer_id": customer_id, "variant": variant,
                         "source": "personal" if personal else "cold_start", "channel": channel,
                         "location_id": location_id, "items": items})
    answer.headers[VERSION_HEADER] = str(live.version)
    return answer


class PersonalQuery(BaseModel):
    n: int = Field(10, ge=1, le=CANDIDATES)
    variant: Literal["repeat", "new"] = "repeat"
    channel: Channel | None = None
    location_id: Ident | None = Field(None, description="default: the customer's home store")
    cart: list[Ident] = Field([], max_length=100)
    viewed: list[Ident] = Field([], max_length=100)


_personal_query, _PERSONAL_DOC = query_model(PersonalQuery)


@router.get("/customers/{customer_id}/recommendations", response_model=R.Recommendations,
            openapi_extra=_PERSONAL_DOC)
async def customer_recommendations(customer_id: Ident, request: Request) -> JSONResponse:
    """Top ``n`` SKUs for a member: ``repeat`` lets them re-buy, ``new`` shows only what they never bought.
    Members without a list of their own get the cold start (similar to ``viewed``, popular in their region)."""
    # The busiest read of a shop's pages resolves its caller, services and query itself: each FastAPI
    # dependency costs ~20 us per request, each declared query parameter ~15 us (deps.query_model).
    who = await principal(request)
    svc: Services = request.app.state.services
    q = await _personal_query(request)
    who.require("shopper", "service", "marketer", "store_staff")
    who.check_customer(customer_id)
    customer = svc.shelf.cached_customer(customer_id)
    if customer is False:
        customer = await run_in_threadpool(svc.shelf.read_customer, customer_id)
    if customer is None:
        raise not_found("customer", customer_id)
    region, home = customer
    return await _answer(svc, customer_id, region, q.location_id or home, q.n, q.variant, q.channel, q.cart,
                         q.viewed)


@router.get("/recommendations", response_model=R.Recommendations)
async def guest_recommendations(
    who: Caller, svc: Svc,
    n: Annotated[int, Query(ge=1, le=CANDIDATES)] = 10,
    region: Ident | None = None,
    channel: Channel | None = None,
    location_id: Ident | None = None,
    cart: SkuList = [],  # noqa: B006
    viewed: SkuList = [],  # noqa: B006
) -> JSONResponse:
    """Recommendations for an anonymous shopper by session: items similar to what the session
    ``viewed``, then popular in the region."""
    who.require("shopper", "service", "marketer", "store_staff")
    return await _answer(svc, None, region, location_id, n, "repeat", channel, cart, viewed)


@router.get("/products/{sku}/related", response_model=R.Related)
def related_products(
    sku: Ident, who: Caller, svc: Svc,
    kind: Literal["bought_together", "similar"] = "bought_together",
    n: Annotated[int, Query(ge=1, le=CANDIDATES)] = 10,
    channel: Channel | None = None,
    location_id: Annotated[Ident | None, Query(description="default: a shopper's home store, staff's own "
                                                           "store; none: any stock")] = None,
) -> JSONResponse:
    """SKUs bought together with ``sku`` (association rules, by confidence) or similar to it
    (item-kNN), listed, visible in the channel and in stock at the caller's location."""
    who.require("shopper", "service", "marketer", "store_staff")
    live = live_version(svc)
    with svc.read_connection() as conn:
        if conn.execute(select(Sku.sku).where(Sku.sku == sku)).first() is None:
            raise not_found("sku", sku)
    if location_id is None and who.role == "shopper" and who.customer_id:
        customer = svc.shelf.customer(who.customer_id)
        location_id = customer[1] if customer else None
    location_id = location_id or who.store_id
    candidates = live.recommendations.related(sku, kind, CANDIDATES)
    try:
        showable = svc.shelf.showable(candidates, channel, location_id) if candidates else set()
    except UnknownLocation:
        raise not_found("location", location_id) from None
    answer = json_as_is({"sku": sku, "kind": kind, "location_id": location_id,
                         "items": [c for c in candidates if c in showable][:n]})
    answer.headers[VERSION_HEADER] = str(live.version)
    return answer
