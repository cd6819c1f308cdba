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

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import bindparam, exists, or_, select

from commerce_api import responses as R
from commerce_api.deps import Caller, Ident, Svc, json_as_is
from commerce_api.errors import ApiError, not_found
from commerce_api.routes.catalogue import Channel
from commerce_api.schema import Customer, Location, Product, Sku, StockLevel
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


# One round trip for what may be shown of the candidates: listed (SKU and product), their channels,
# and whether stock is available at the location or the warehouse above it (measured: four ORM
# round trips -> this one, see docs/benchmarks.md)
_LISTED = (select(Sku.sku, Sku.visible_channels).join(Product, Product.id == Sku.product_id)
           .where(Sku.sku.in_(bindparam("skus", expanding=True)), Sku.listed, Product.listed))
_PLACES = select(Location.id).where(or_(
    Location.id == bindparam("location_id"),
    Location.id == select(Location.parent_id).where(Location.id == bindparam("location_id")).scalar_subquery()))
_IN_STOCK = _LISTED.where(exists().where(
    StockLevel.sku == Sku.sku, StockLevel.location_id.in_(_PLACES), StockLevel.pool.in_(bindparam("pools", expanding=True)),
    StockLevel.on_hand - StockLevel.reserved - StockLevel.allocated > 0))
_LOCATION = select(Location.id).where(Location.id == bindparam("location_id"))
_CUSTOMER = select(Customer.region, Customer.home_store_id).where(Customer.id == bindparam("customer_id"))


def _showable(conn, skus: list[str], channel: str | None, location_id: str | None) -> set[str]:
    """The SKUs of ``skus`` that are listed, visible in ``channel`` and in stock at the location or its parent."""
    if not skus:
        return set()
    if location_id is None:
        rows = conn.execute(_LISTED, {"skus": skus}).all()
    else:
        rows = conn.execute(_IN_STOCK, {"skus": skus, "location_id": location_id,
                                        "pools": ["shared"] + ([channel] if channel else [])}).all()
        if not rows and conn.execute(_LOCATION, {"location_id": location_id}).first() is None:
            raise not_found("location", location_id)
    return {sku for sku, visible in rows if channel is None or visible is None or channel in visible}


def _answer(svc, customer_id: str | None, region: str | None, location_id: str | None, n: int, variant: str,
            channel: str | None, cart: list[str], viewed: list[str]) -> JSONResponse:
    live = live_version(svc)
    index = live.recommendations
    personal = customer_id is not None and (customer_id, variant) in index.customer_row
    candidates = index.recommend(customer_id, CANDIDATES, variant=variant, cart=cart, session_skus=viewed,
                                 region=region)
    with svc.read_connection() as conn:
        showable = _showable(conn, candidates, channel, location_id)
    items = [sku for sku in candidates if sku in showable][:n]
    answer = json_as_is({"customer_id": customer_id, "variant": variant,
                         "source": "personal" if personal else "cold_start", "channel": channel,
                         "location_id": location_id, "items": items})
    answer.headers[VERSION_HEADER] = str(live.version)
    return answer


@router.get("/customers/{customer_id}/recommendations", response_model=R.Recommendations)
def customer_recommendations(
    customer_id: Ident, who: Caller, svc: Svc,
    n: Annotated[int, Query(ge=1, le=CANDIDATES)] = 10,
    variant: Literal["repeat", "new"] = "repeat",
    channel: Channel | None = None,
    location_id: Annotated[Ident | None, Query(description="default: the customer's home store")] = None,
    cart: SkuList = [],  # noqa: B006 - FastAPI copies query defaults
    viewed: SkuList = [],  # noqa: B006
) -> JSONResponse:
    """Top ``n`` SKUs for a member: ``repeat`` lets them re-buy, ``new`` shows only what they never bought.
    Members without a list of their own get the cold start (similar to ``viewed``, popular in their region)."""
    who.require("shopper", "service", "marketer", "store_staff")
    who.check_customer(customer_id)
    with svc.read_connection() as conn:
        customer = conn.execute(_CUSTOMER, {"customer_id": customer_id}).first()
    if customer is None:
        raise not_found("customer", customer_id)
    region, home = customer
    return _answer(svc, customer_id, region, location_id or home, n, variant, channel, cart, viewed)


@router.get("/recommendations", response_model=R.Recommendations)
def guest_recommendations(
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
    return _answer(svc, None, region, location_id, n, "repeat", channel, cart, viewed)


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
            customer = conn.execute(_CUSTOMER, {"customer_id": who.customer_id}).first()
            location_id = customer.home_store_id if customer else None
        location_id = location_id or who.store_id
        candidates = live.recommendations.related(sku, kind, CANDIDATES)
        showable = _showable(conn, candidates, channel, location_id)
    answer = json_as_is({"sku": sku, "kind": kind, "location_id": location_id,
                         "items": [c for c in candidates if c in showable][:n]})
    answer.headers[VERSION_HEADER] = str(live.version)
    return answer
