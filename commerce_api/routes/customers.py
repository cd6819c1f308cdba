"""Members (one profile for online sign-up and store card), stored-value card, till lookups."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import and_, bindparam, or_, select

from commerce_api import inventory, members
from commerce_api import responses as R
from commerce_api.auth import forget_cached_keys
from commerce_api.clock import iso, utcnow
from commerce_api.db import transaction
from commerce_api.deps import Caller, Ident, Paging, Strict, Svc, Text200, json_as_is, paginate
from commerce_api.errors import ApiError, not_found
from commerce_api.payments import stored_value_move
from commerce_api.pricing import price_from_row, with_prices
from commerce_api.schema import Customer, Location, Product, Sku, StockLevel, StoredValueEntry

router = APIRouter(tags=["members and till"])


class CustomerIn(Strict):
    id: Ident
    member_code: Ident
    name: Text200 | None = None
    region: Ident | None = None
    home_store_id: Ident | None = None
    tier: Literal["member", "silver", "gold", "diamond"] = "member"
    birthday: date | None = Field(None, strict=False)
    phone: Annotated[str, Field(pattern=r"^\+?[0-9]{6,20}$")] | None = Field(
        None, description="verified by the sign-up (one person's members share it: referral guard, merging)")


class MergeIn(Strict):
    other_id: Ident = Field(description="the member merged into this one (their code keeps working at the till)")
    phone: Annotated[str, Field(pattern=r"^\+?[0-9]{6,20}$")] = Field(description="the verified phone both carry")


class TopUpIn(Strict):
    amount: Annotated[int, Field(gt=0, le=10**9)]
    reference: Text200


def customer_dict(c: Customer) -> dict:
    return {"id": c.id, "member_code": c.member_code, "name": c.name, "region": c.region,
            "home_store_id": c.home_store_id, "tier": c.tier, "points": c.points, "stored_value": c.stored_value,
            "birthday": c.birthday.isoformat() if c.birthday else None, "merged_into": c.merged_into}


@router.post("/customers", status_code=201, response_model=R.CustomerOut)
def create_customer(body: CustomerIn, who: Caller, svc: Svc) -> dict:
    """Sign-up, online or at the till (staff sign members up to their own store)."""
    who.require("store_staff", "service")
    if who.role == "store_staff":
        who.check_store(body.home_store_id)
    with transaction(svc.sessions) as s:
        if s.get(Customer, body.id) or s.execute(select(Customer).where(
                Customer.member_code == body.member_code)).first():
            raise ApiError(409, "exists", "customer id or member code exists")
        if body.home_store_id and s.get(Location, body.home_store_id) is None:
            raise not_found("store", body.home_store_id)
        c = Customer(points=0, stored_value=0, created_at=utcnow(), **body.model_dump())
        s.add(c)
        s.flush()
        return customer_dict(c)


@router.get("/customers", response_model=R.Paged[R.CustomerOut])
def list_customers(who: Caller, svc: Svc, paging: Paging,
                   tier: Literal["member", "silver", "gold", "diamond"] | None = None) -> dict:
    who.require("store_staff", "marketer", "service")
    q = select(Customer).order_by(Customer.id)
    if tier:
        q = q.where(Customer.tier == tier)
    with svc.reads() as s:
        return paginate(s, q, paging, customer_dict)


@router.get("/customers/{customer_id}", response_model=R.CustomerOut)
def get_customer(customer_id: Ident, who: Caller, svc: Svc) -> dict:
    who.check_customer(customer_id)
    with svc.reads() as s:
        c = s.get(Customer, customer_id)
        if c is None:
            raise not_found("customer", customer_id)
        return customer_dict(c)


@router.post("/customers/{customer_id}/stored-value/top-ups", status_code=201, response_model=R.Balance)
def top_up(customer_id: Ident, body: TopUpIn, who: Caller, svc: Svc) -> dict:
    """Load money on the stored-value card (at the till or by an integration)."""
    who.require("store_staff", "service")
    with transaction(svc.sessions) as s:
        balance = stored_value_move(s, customer_id, body.amount, f"top-up:{body.reference}")
    return {"customer_id": customer_id, "balance": balance}


@router.get("/customers/{customer_id}/stored-value", response_model=R.StoredValue)
def stored_value(customer_id: Ident, who: Caller, svc: Svc, paging: Paging) -> dict:
    """Balance and the card's ledger, newest first: the member's own, or the tills' and back office's."""
    who.require("shopper", "store_staff", "service").check_customer(customer_id)
    with svc.reads() as s:
        c = s.get(Customer, customer_id)
        if c is None:
            raise not_found("customer", customer_id)
        q = select(StoredValueEntry).where(StoredValueEntry.customer_id == customer_id).order_by(
            StoredValueEntry.id.desc())
        out = paginate(s, q, paging, lambda e: {"delta": e.delta, "balance_after": e.balance_after,
                                                 "reference": e.reference, "at": iso(e.created_at)})
    return {"balance": c.stored_value, **out}


@router.get("/till/members/{member_code}", response_model=R.CustomerOut)
def till_member(member_code: Ident, who: Caller, svc: Svc) -> JSONResponse:
    """Member-code lookup at the till: who, tier, points, stored-value balance."""
    who.require("store_staff")
    with svc.reads() as s:
        c = s.execute(select(Customer).where(Customer.member_code == member_code)).scalar_one_or_none()
        if c is not None and c.merged_into:
            c = members.resolve(s, c)  # a merged card finds the member it became
    if c is None:
        raise not_found("member code", member_code)
    return json_as_is(customer_dict(c))


@router.post("/customers/{customer_id}/merge", response_model=R.Merged)
def merge_member(customer_id: Ident, body: MergeIn, who: Caller, svc: Svc) -> dict:
    """Merge another member of the same person (found by the verified phone both carry) into this
    one: orders, carts, points lots, stored value, coupons and API keys move over; one member code at the till.
    Store staff merge at their own store's members' request."""
    who.require("store_staff", "service")
    now = utcnow()
    with transaction(svc.sessions) as s:
        if who.role == "store_staff":
            homes = set(s.scalars(select(Customer.home_store_id).where(Customer.id.in_([customer_id, body.other_id]))))
            if who.store_id not in homes:
                raise ApiError(403, "forbidden", f"neither member belongs to store {who.store_id}")
        moved = members.merge(s, customer_id, body.other_id, body.phone, now)
        out = {"customer": customer_dict(s.get(Customer, customer_id)), "merged": body.other_id, **moved}
    forget_cached_keys()  # this worker at once; the others within the key cache's 30 s
    return out


# One round trip for all a scan shows: the SKU (by barcode or id), its product, its price in force at
# the store (the store's region, the till channel) and the store's stock rows of it (one per pool).
_SCAN = with_prices(
    select(Sku.sku, Sku.barcode, Sku.spec, Sku.listed, Sku.stock_pools, Product.name,
           Product.listed.label("product_listed"), Location.id.label("store_id"), Location.region,
           StockLevel.pool, (StockLevel.on_hand - StockLevel.reserved - StockLevel.allocated).label("available"))
    .join(Product, Product.id == Sku.product_id)
    .outerjoin(Location, Location.id == bindparam("store_id"))
    .outerjoin(StockLevel, and_(StockLevel.sku == Sku.sku, StockLevel.location_id == Location.id)),
    Location.region,
).where(or_(Sku.barcode == bindparam("code"), Sku.sku == bindparam("code"))).order_by(Sku.sku)


@router.get("/till/scan/{code}", response_model=R.TillScan)
def till_scan(code: Ident, who: Caller, svc: Svc,
              store_id: Annotated[str | None, Query(max_length=64)] = None) -> JSONResponse:
    """Scan a barcode (or SKU) at a till, self-checkout or shelf display: name, price in force at the
    store, and stock available there."""
    who.require("store_staff")
    store_id = store_id or who.store_id
    if not store_id:
        raise ApiError(422, "store_required", "give store_id")
    with svc.read_connection() as conn:
        rows = conn.execute(_SCAN, {"code": code, "store_id": store_id, "at": utcnow(), "channel": "store_pos"}).all()
    if not rows:
        raise not_found("barcode", code)
    row = rows[0]
    if row.store_id is None:
        raise not_found("store", store_id)
    price = price_from_row(row, row.region)
    pool = inventory.pool_of(row.stock_pools, "store_pos")
    stock = sum(r.available for r in rows if r.sku == row.sku and r.pool == pool)
    return json_as_is({"sku": row.sku, "barcode": row.barcode, "name": row.name, "spec": row.spec,
                       "price": price.price, "price_rule": price.rule, "list_price": price.list_price,
                       "store_id": store_id, "available": stock, "listed": row.listed and row.product_listed})
