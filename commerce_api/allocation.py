"""Where each order line's stock comes from.

Pickup and till orders take everything from their store. Delivery orders prefer one location
holding every line (fewer parcels), ranked: same region first, then regional warehouse before
central warehouse before a store; otherwise lines are split over locations in that ranking,
each becoming its own shipment.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce_api.errors import ApiError, not_found
from commerce_api.inventory import OutOfStock, available_by_location
from commerce_api.schema import Location

KIND_RANK = {"regional_warehouse": 0, "central_warehouse": 1, "store": 2}


@dataclass(frozen=True)
class Pick:
    sku: str
    quantity: int
    location_id: str


def _rank(loc: Location, region: str | None) -> tuple:
    return (0 if region and loc.region == region else 1, KIND_RANK.get(loc.kind, 3), loc.id)


def plan(session: Session, wanted: dict[str, int], pools: dict[str, str], fulfillment: str,
         store_id: str | None, region: str | None) -> list[Pick]:
    """Picks covering ``wanted`` (sku -> quantity); raises OutOfStock if the stock is not there."""
    available = available_by_location(session, list(wanted), pools)
    if fulfillment in ("pickup", "in_store"):
        store = session.get(Location, store_id) if store_id else None
        if store is None:
            raise not_found("store", store_id)
        if fulfillment == "pickup" and not store.pickup:
            raise ApiError(422, "no_pickup", f"store {store_id} does not offer pickup")
        for sku, qty in wanted.items():
            if available.get((sku, store_id), 0) < qty:
                raise OutOfStock(sku, store_id, qty)
        return [Pick(sku, qty, store_id) for sku, qty in wanted.items()]
    ids = {loc for (_, loc) in available}
    locations = sorted(session.execute(select(Location).where(Location.id.in_(ids))).scalars(),
                       key=lambda loc: _rank(loc, region))
    for loc in locations:  # one location holding every line: one shipment
        if all(available.get((sku, loc.id), 0) >= qty for sku, qty in wanted.items()):
            return [Pick(sku, qty, loc.id) for sku, qty in wanted.items()]
    picks = []
    for sku, qty in wanted.items():  # split: take each line from the best-ranked locations holding it
        left = qty
        for loc in locations:
            take = min(left, max(available.get((sku, loc.id), 0), 0))
            if take:
                picks.append(Pick(sku, take, loc.id))
                left -= take
            if not left:
                break
        if left:
            raise OutOfStock(sku, None, qty)
    return picks
