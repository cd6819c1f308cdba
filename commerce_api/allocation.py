"""Where each order line's stock comes from.

Pickup and till orders take everything from their store. Delivery orders prefer one location
holding every line (fewer parcels), ranked: same region first, then regional warehouse before
central warehouse before a store; otherwise lines are split over locations in that ranking,
each becoming its own shipment.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, ColumnElement, ScalarSelect, bindparam, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from commerce_api.db import core
from commerce_api.errors import ApiError, not_found
from commerce_api.inventory import OutOfStock
from commerce_api.schema import Location, Sku, StockLevel

KIND_RANK = {"regional_warehouse": 0, "central_warehouse": 1, "store": 2}


@dataclass(frozen=True)
class Pick:
    sku: str
    quantity: int
    location_id: str


_FREE = StockLevel.on_hand - StockLevel.reserved - StockLevel.allocated


class _json_rows(FunctionElement):
    """Aggregate: a JSON array with one array of the given columns per row (PostgreSQL, SQLite)."""

    type = JSON()
    inherit_cache = True


@compiles(_json_rows, "postgresql")
def _json_rows_pg(element, compiler, **kw) -> str:
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"


@compiles(_json_rows, "sqlite")
def _json_rows_sqlite(element, compiler, **kw) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


def free_stock_of(sku: ColumnElement[str]) -> ScalarSelect:
    """Correlated subquery: the stock ``plan`` works from for ``sku``, as a JSON array of [location_id,
    pool, free, kind, region] where some is free, at the location of the bind parameter ``at_store`` if
    it is set, else anywhere (NULL when none). ``plan`` reads it on its own; checkout reads it with its
    SKUs, in the same round trip, and hands it to ``plan``."""
    return (select(_json_rows(StockLevel.location_id, StockLevel.pool, _FREE, Location.kind, Location.region))
            .join(Location, Location.id == StockLevel.location_id)
            .where(StockLevel.sku == sku, _FREE > 0,
                   or_(bindparam("at_store", type_=StockLevel.location_id.type).is_(None),
                       StockLevel.location_id == bindparam("at_store", type_=StockLevel.location_id.type)))
            .scalar_subquery())


_FREE_STOCK = select(Sku.sku, free_stock_of(Sku.sku)).where(Sku.sku.in_(bindparam("skus", expanding=True)))


def plan(session: Session, wanted: dict[str, int], pools: dict[str, str], fulfillment: str,
         store_id: str | None, region: str | None, stock: dict[str, list] | None = None) -> list[Pick]:
    """Picks covering ``wanted`` (sku -> quantity); raises OutOfStock if the stock is not there.
    ``stock``: the ``free_stock_of`` value per SKU when the caller has read it (else read here)."""
    if fulfillment in ("pickup", "in_store"):
        store = session.get(Location, store_id) if store_id else None
        if store is None:
            raise not_found("store", store_id)
        if fulfillment == "pickup" and not store.pickup:
            raise ApiError(422, "no_pickup", f"store {store_id} does not offer pickup")
    if stock is None:
        at_store = store_id if fulfillment in ("pickup", "in_store") else None
        stock = dict(core(session).execute(_FREE_STOCK, {"skus": list(wanted), "at_store": at_store}).all())
    rows = [(sku, *row) for sku, held in stock.items() for row in held or ()]
    available: dict[tuple[str, str], int] = {}
    rank: dict[str, tuple] = {}
    for sku, location_id, pool, free, kind, loc_region in rows:
        if pool == pools[sku]:  # free > 0: free_stock_of lists only those
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
