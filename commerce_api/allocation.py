"""Where each order line's stock comes from.

Pickup and till orders take everything from their store. Delivery orders prefer one location
holding every line (fewer parcels), ranked: same region first, then regional warehouse before
central warehouse before a store; otherwise lines are split over locations in that ranking,
each becoming its own shipment.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from commerce_api.db import core
from commerce_api.errors import ApiError, not_found
from commerce_api.inventory import OutOfStock
from commerce_api.schema import Location, StockLevel

KIND_RANK = {"regional_warehouse": 0, "central_warehouse": 1, "store": 2}


@dataclass(frozen=True)
class Pick:
    sku: str
    quantity: int
    location_id: str


_STOCK_ANYWHERE = (
    select(StockLevel.sku, StockLevel.location_id, StockLevel.pool,
           StockLevel.on_hand - StockLevel.reserved - StockLevel.allocated, Location.kind, Location.region)
    .join(Location, Location.id == StockLevel.location_id)
    .where(StockLevel.sku.in_(bindparam("skus", expanding=True)))
)
_STOCK_AT_STORE = _STOCK_ANYWHERE.where(StockLevel.location_id == bindparam("store_id"))


def plan(session: Session, wanted: dict[str, int], pools: dict[str, str], fulfillment: str,
         store_id: str | None, region: str | None) -> list[Pick]:
    """Picks covering ``wanted`` (sku -> quantity); raises OutOfStock if the stock is not there."""
    if fulfillment in ("pickup", "in_store"):
        store = session.get(Location, store_id) if store_id else None
        if store is None:
            raise not_found("store", store_id)
        if fulfillment == "pickup" and not store.pickup:
            raise ApiError(422, "no_pickup", f"store {store_id} does not offer pickup")
    q = _STOCK_AT_STORE if fulfillment in ("pickup", "in_store") else _STOCK_ANYWHERE
    available: dict[tuple[str, str], int] = {}
    rank: dict[str, tuple] = {}
    for sku, location_id, pool, free, kind, loc_region in core(session).execute(q, {"skus": list(wanted),
                                                                              "store_id": store_id}):
        if pool == pools[sku] and free > 0:
            available[(sku, location_id)] = free
            rank[location_id] = (0 if region and loc_region == region else 1, KIND_RANK.get(kind, 3), location_id)
    if fulfillment in ("pickup", "in_store"):
        for sku, qty in wanted.items():
            if available.get((sku, store_id), 0) < qty:
                raise OutOfStock(sku, store_id, qty)
        return [Pick(sku, qty, store_id) for sku, qty in wanted.items()]
    locations = sorted(rank, key=rank.__getitem__)
    for loc in locations:  # one location holding every line: one shipment
        if all(available.get((sku, loc), 0) >= qty for sku, qty in wanted.items()):
            return [Pick(sku, qty, loc) for sku, qty in wanted.items()]
    picks = []
    for sku, qty in wanted.items():  # split: take each line from the best-ranked locations holding it
        left = qty
        for loc in locations:
            take = min(left, available.get((sku, loc), 0))
            if take:
                picks.append(Pick(sku, take, loc))
                left -= take
            if not left:
                break
        if left:
            raise OutOfStock(sku, None, qty)
    return picks
