"""Inventory: levels per SKU x location, receiving, transfers, stock counts, the ledger check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from commerce_api import inventory
from commerce_api import responses as R
from commerce_api.db import transaction
from commerce_api.deps import Caller, Ident, Quantity, Strict, Svc, Text200, json_as_is
from commerce_api.errors import ApiError

router = APIRouter(tags=["inventory"])


class StockLine(Strict):
    sku: Ident
    quantity: Quantity
    pool: Ident = "shared"


class ReceiptIn(Strict):
    location_id: Ident
    lines: list[StockLine] = Field(min_length=1, max_length=500)
    reference: Text200 | None = None


class TransferIn(Strict):
    from_location_id: Ident
    to_location_id: Ident
    lines: list[StockLine] = Field(min_length=1, max_length=500)
    reference: Text200 | None = None


class CountIn(Strict):
    location_id: Ident
    sku: Ident
    counted: int = Field(ge=0, le=10**9)
    pool: Ident = "shared"
    reference: Text200 | None = None


def level_dict(lv: inventory.Level) -> dict:
    return {"sku": lv.sku, "location_id": lv.location_id, "pool": lv.pool, "on_hand": lv.on_hand,
            "reserved": lv.reserved, "allocated": lv.allocated, "available": lv.available}


@router.get("/inventory", response_model=R.Items[R.Level])
def get_levels(who: Caller, svc: Svc, sku: Annotated[str | None, Query(max_length=64)] = None,
               location_id: Annotated[str | None, Query(max_length=64)] = None) -> JSONResponse:
    """Stock per SKU x location x pool: on hand, reserved, allocated, available. Filter by one or both."""
    who.require("store_staff", "marketer", "service")
    if not sku and not location_id:
        raise ApiError(422, "filter_required", "give sku, location_id or both")
    with svc.read_connection() as conn:
        rows = inventory.levels(conn, sku=sku, location_id=location_id)
    return json_as_is({"items": [level_dict(lv) for lv in rows]})


@router.post("/inventory/receipts", status_code=201, response_model=R.Items[R.Level])
def receive(body: ReceiptIn, who: Caller, svc: Svc) -> dict:
    """Goods received at a location (purchase receipt)."""
    who.require("store_staff", "service").check_store(body.location_id)
    with transaction(svc.sessions) as s:
        for line in body.lines:
            inventory.receive(s, body.location_id, line.sku, line.quantity, line.pool, body.reference)
        rows = [lv for line in body.lines for lv in inventory.levels(s, line.sku, body.location_id)]
    svc.shelf.forget()
    return {"items": [level_dict(lv) for lv in rows]}


@router.post("/inventory/transfers", status_code=201, response_model=R.Items[R.Level])
def transfer(body: TransferIn, who: Caller, svc: Svc) -> dict:
    """Move available stock from one location to another (both legs in one transaction)."""
    who.require("store_staff", "service").check_store(body.from_location_id)
    with transaction(svc.sessions) as s:
        for line in sorted(body.lines, key=lambda ln: ln.sku):
            inventory.transfer(s, body.from_location_id, body.to_location_id, line.sku, line.quantity, line.pool,
                               body.reference)
        rows = [lv for line in body.lines for loc in (body.from_location_id, body.to_location_id)
                for lv in inventory.levels(s, line.sku, loc)]
    svc.shelf.forget()
    return {"items": [level_dict(lv) for lv in rows]}


@router.post("/inventory/counts", response_model=R.CountResult)
def stock_count(body: CountIn, who: Caller, svc: Svc) -> dict:
    """A stock count sets on hand to what was counted; the difference goes to the ledger as an adjustment."""
    who.require("store_staff", "service").check_store(body.location_id)
    with transaction(svc.sessions) as s:
        delta = inventory.count(s, body.location_id, body.sku, body.counted, body.pool, body.reference)
        rows = inventory.levels(s, body.sku, body.location_id)
    svc.shelf.forget()
    return {"adjustment": delta, "items": [level_dict(lv) for lv in rows]}


@router.get("/inventory/ledger-check", response_model=R.LedgerCheck)
def ledger_check(who: Caller, svc: Svc) -> dict:
    """Rebuild every stock row from the movement ledger and list any row that differs (should be none)."""
    who.require("service")
    with svc.reads() as s:
        bad = inventory.ledger_mismatches(s)
    return {"balanced": not bad, "mismatches": [{**m, "key": list(m["key"])} for m in bad]}
