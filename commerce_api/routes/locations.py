"""Locations (central warehouse -> regional warehouses -> stores), nearby pickup, delivery estimates."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy import select

from commerce_api import inventory
from commerce_api import responses as R
from commerce_api.allocation import plan
from commerce_api.clock import utcnow
from commerce_api.db import transaction
from commerce_api.deps import Caller, Ident, Paging, Strict, Svc, Text200, paginate
from commerce_api.errors import ApiError, not_found
from commerce_api.logistics import DELIVERY_DAYS
from commerce_api.schema import Location

router = APIRouter(tags=["locations"])


class LocationIn(Strict):
    id: Ident
    kind: Literal["central_warehouse", "regional_warehouse", "store"]
    name: Text200
    region: Ident | None = None
    parent_id: Ident | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    pickup: bool = False


def location_dict(loc: Location) -> dict:
    return {"id": loc.id, "kind": loc.kind, "name": loc.name, "region": loc.region, "parent_id": loc.parent_id,
            "latitude": loc.latitude, "longitude": loc.longitude, "pickup": loc.pickup}


def km_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(min(1.0, math.sqrt(a)))


@router.post("/locations", status_code=201, response_model=R.LocationOut)
def create_location(body: LocationIn, who: Caller, svc: Svc) -> dict:
    who.require("service")
    with transaction(svc.sessions) as s:
        if s.get(Location, body.id):
            raise ApiError(409, "exists", f"location {body.id} exists")
        if body.parent_id and s.get(Location, body.parent_id) is None:
            raise not_found("parent location", body.parent_id)
        s.add(Location(**body.model_dump()))
    return body.model_dump()


@router.get("/locations", response_model=R.Paged[R.LocationOut])
def list_locations(who: Caller, svc: Svc, paging: Paging,
                   kind: Literal["central_warehouse", "regional_warehouse", "store"] | None = None) -> dict:
    q = select(Location).order_by(Location.id)
    if kind:
        q = q.where(Location.kind == kind)
    with svc.reads() as s:
        return paginate(s, q, paging, location_dict)


@router.get("/locations/nearby", response_model=R.NearbyStores)
def nearby_pickup(who: Caller, svc: Svc, latitude: Annotated[float, Query(ge=-90, le=90)],
                  longitude: Annotated[float, Query(ge=-180, le=180)],
                  sku: Annotated[str, Query(min_length=1, max_length=64)],
                  quantity: Annotated[int, Query(ge=1, le=100_000)] = 1,
                  limit: Annotated[int, Query(ge=1, le=50)] = 5, channel: Annotated[str | None, Query(max_length=32)] = None
                  ) -> dict:
    """The closest pickup stores that have ``quantity`` of ``sku`` available now."""
    with svc.reads() as s:
        pool = inventory.pool_for(s, sku, channel)
        stock = {lv.location_id: lv.available for lv in inventory.levels(s, sku=sku) if lv.pool == pool}
        stores = s.execute(select(Location).where(Location.kind == "store", Location.pickup,
                                                  Location.id.in_(list(stock)))).scalars().all()
    found = [{**location_dict(loc), "available": stock[loc.id],
              "distance_km": round(km_between(latitude, longitude, loc.latitude, loc.longitude), 2)}
             for loc in stores if stock[loc.id] >= quantity and loc.latitude is not None and loc.longitude is not None]
    found.sort(key=lambda d: (d["distance_km"], d["id"]))
    return {"sku": sku, "quantity": quantity, "stores": found[:limit]}


@router.get("/delivery-estimate", response_model=R.DeliveryEstimate)
def delivery_estimate(who: Caller, svc: Svc, sku: Annotated[str, Query(min_length=1, max_length=64)],
                      region: Annotated[str, Query(min_length=1, max_length=64)],
                      quantity: Annotated[int, Query(ge=1, le=100_000)] = 1,
                      channel: Annotated[str | None, Query(max_length=32)] = None) -> dict:
    """Where delivery would ship from (the allocation rule of checkout) and in how many days."""
    with svc.reads() as s:
        pool = inventory.pool_for(s, sku, channel)
        picks = plan(s, {sku: quantity}, {sku: pool}, "delivery", None, region)
        sources = []
        for pick in picks:
            loc = s.get(Location, pick.location_id)
            days = DELIVERY_DAYS.get((loc.kind, loc.region == region), 3)
            sources.append({"location_id": loc.id, "kind": loc.kind, "quantity": pick.quantity, "days": days})
    days = max(src["days"] for src in sources)
    return {"sku": sku, "region": region, "quantity": quantity, "days": days,
            "estimated_delivery": (utcnow() + timedelta(days=days)).date().isoformat(), "ships_from": sources}
