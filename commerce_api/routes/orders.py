"""Carts, checkout, orders, payments, fulfilment and after-sale."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce_api import aftersale, group_buys, idempotency, orders
from commerce_api import responses as R
from commerce_api.auth import Principal
from commerce_api.clock import as_utc, iso, utcnow
from commerce_api.db import transaction
from commerce_api.deps import (
    Caller,
    Ident,
    Money,
    Paging,
    Quantity,
    Strict,
    Svc,
    Text200,
    Text1000,
    json_as_is,
    paginate,
)
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.payments import payment_dict
from commerce_api.routes.catalogue import Channel
from commerce_api.schema import Cart, CartLine, Location, Order, OrderDiscount, Payment, ReturnRequest, Sku

router = APIRouter(tags=["orders"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]
Fulfillment = Literal["delivery", "pickup", "in_store"]


class LineIn(Strict):
    sku: Ident
    quantity: Quantity


class GroupSeatIn(Strict):
    deal_id: int = Field(ge=1, le=2**62)
    group_id: int | None = Field(None, ge=1, le=2**62, description="the group to join; none: open a new one")


class OrderIn(Strict):
    channel: Channel
    fulfillment: Fulfillment = "delivery"
    lines: list[LineIn] = Field(min_length=1, max_length=200)
    customer_id: Ident | None = None
    store_id: Ident | None = None
    delivery_region: Ident | None = None
    coupon_code: Ident | None = Field(None, description="a coupon code to apply")
    coupon_id: int | None = Field(None, ge=1, le=2**62, description="one of the member's own coupons")
    points: int = Field(0, ge=0, le=10**12, description="points to redeem: one pays one minor unit, up to the "
                                                       "configured share of the order")
    group_buy: GroupSeatIn | None = Field(None, description="a group-buy order: open a group of a deal or join one")
    bargain_id: int | None = Field(None, ge=1, le=2**62, description="buy one of your bargains at the price reached")
    reward_id: int | None = Field(None, ge=1, le=2**62, description="take a points reward's SKU for its points")


class CartIn(Strict):
    channel: Channel
    customer_id: Ident | None = None
    store_id: Ident | None = Field(None, description="the store of a till cart (store staff: their own, the default)")


class CartLineIn(Strict):
    quantity: int = Field(ge=0, le=100_000, description="0 removes the line")


class CheckoutIn(Strict):
    fulfillment: Fulfillment = "delivery"
    store_id: Ident | None = None
    delivery_region: Ident | None = None
    coupon_code: Ident | None = None
    coupon_id: int | None = Field(None, ge=1, le=2**62)
    points: int = Field(0, ge=0, le=10**12)


class PaymentIn(Strict):
    method: Literal["wechat_pay", "alipay", "stored_value"]
    amount: Money | None = Field(None, description="default: the amount due (the deposit first for a pre-sale)")


class CancelIn(Strict):
    reason: Text200 = "cancelled by request"


class ReturnLineIn(Strict):
    line_number: int = Field(ge=1, le=10_000)
    quantity: Quantity


class ReturnIn(Strict):
    kind: Literal["return", "exchange"] = "return"
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=200)
    reason: Text1000 | None = None


class DecisionIn(Strict):
    approve: bool
    note: Text1000 | None = None


def discounts_of(session: Session, o: Order) -> list[OrderDiscount]:
    if o.subtotal + o.shipping_fee == o.total:  # no discount line (no query on the hot path)
        return []
    return list(session.execute(select(OrderDiscount).where(OrderDiscount.order_id == o.id)
                                .order_by(OrderDiscount.line_number, OrderDiscount.source)).scalars())


def order_dict(session: Session, o: Order, lines: list | None = None, shipments: list | None = None,
               discounts: list | None = None) -> dict:
    """The order as the API shows it; ``lines``/``shipments``/``discounts`` when the caller has them."""
    lines = orders.lines_of(session, o.id) if lines is None else lines
    shipments = orders.shipments_of(session, o.id) if shipments is None else shipments
    return {
        "id": o.id, "status": o.status, "customer_id": o.customer_id, "channel": o.channel,
        "fulfillment": o.fulfillment, "store_id": o.store_id, "delivery_region": o.delivery_region,
        "subtotal": o.subtotal, "total": o.total, "shipping_fee": o.shipping_fee, "points_redeemed": o.points_redeemed,
        "group_buy_id": o.group_buy_id, "bargain_id": o.bargain_id,
        "discounts": [{"line_number": d.line_number, "kind": d.kind, "source": d.source, "amount": d.amount,
                       "points": d.points}
                      for d in (discounts if discounts is not None else discounts_of(session, o))],
        "deposit": o.deposit, "paid": o.paid, "refunded": o.refunded,
        "amount_due": orders.amount_due(o) if o.status in ("created", "deposit_paid") else 0,
        "reserved_until": iso(o.reserved_until) if o.reserved_until else None,
        "ship_after": o.ship_after.isoformat() if o.ship_after else None, "cancel_reason": o.cancel_reason,
        "created_at": iso(o.created_at), "updated_at": iso(o.updated_at),
        "lines": [{"line_number": ln.line_number, "sku": ln.sku, "quantity": ln.quantity, "unit_price": ln.unit_price,
                   "price_rule": ln.price_rule, "location_id": ln.location_id, "returned_quantity": ln.returned_quantity}
                  for ln in lines],
        "shipments": [{"id": sh.id, "location_id": sh.location_id, "status": sh.status, "carrier": sh.carrier,
                       "waybill": sh.waybill, "tracking_status": sh.tracking_status}
                      for sh in shipments],
    }


def check_order_access(session: Session, who: Principal, o: Order) -> None:
    """The member, the store it was placed at or ships from, and the back office; 403 for the rest."""
    if who.role == "shopper":
        who.check_customer(o.customer_id)
    elif who.role == "store_staff":
        if o.store_id != who.store_id and who.store_id not in {ln.location_id for ln in orders.lines_of(session, o.id)}:
            raise ApiError(403, "forbidden", f"order {o.id} is not one of store {who.store_id}'s")
    elif who.role == "marketer":
        raise ApiError(403, "forbidden", "marketers do not act on orders")


def _load(session: Session, who: Principal, order_id: str, lock: bool = True) -> Order:
    o = orders.get_order(session, order_id, lock=lock)
    check_order_access(session, who, o)
    return o


def _check_create(who: Principal, req: orders.OrderIn) -> orders.OrderIn:
    """Who may place which order: shoppers for themselves online, staff at their own store, the
    service role for marketplace intake."""
    who.require("shopper", "store_staff", "service")
    if who.role == "shopper":
        if req.customer_id not in (None, who.customer_id):
            raise ApiError(403, "forbidden", "a shopper orders for themselves")
        if req.channel in orders.TILL_CHANNELS:
            raise ApiError(403, "forbidden", "till channels are for store staff")
        req = orders.OrderIn(**{**req.__dict__, "customer_id": who.customer_id})
    if who.role == "store_staff":
        if req.fulfillment == "delivery":
            raise ApiError(403, "forbidden", "store staff take till and pickup orders for their store")
        who.check_store(req.store_id)
        req = orders.OrderIn(**{**req.__dict__, "by_staff": True})
    return req


def _place(svc, who: Principal, req: orders.OrderIn, key: str | None, endpoint: str, payload: Strict,
           after=None) -> JSONResponse:
    req = _check_create(who, req)

    def work(session: Session) -> dict:
        order, lines, taken_off = orders.place_order(session, req, svc.settings.reservation_ttl_seconds,
                                                     points_cap_percent=svc.settings.points_cap_percent,
                                                     delivery_fee=svc.settings.delivery_fee)
        if after is not None:
            after(session, order)
        session.flush()
        return order_dict(session, order, lines, shipments=[] if order.status == "created" else None,
                          discounts=sorted(taken_off, key=lambda d: (d.line_number, d.source)))

    response, replayed = idempotency.run(svc.sessions, who.name, endpoint, key, payload, work)
    return json_as_is({**response, "idempotent_replay": replayed}, status_code=201)


@router.post("/orders", status_code=201, response_model=R.PlacedOrder)
def create_order(body: OrderIn, who: Caller, svc: Svc, idempotency_key: IdemKey = None) -> JSONResponse:
    """Place an order from any channel; stock is reserved for the reservation time-to-live.

    Send an ``Idempotency-Key``: the same key and body return the first order, another body 422."""
    req = orders.OrderIn(channel=body.channel, fulfillment=body.fulfillment, customer_id=body.customer_id,
                         store_id=body.store_id, delivery_region=body.delivery_region,
                         lines=tuple(orders.LineIn(ln.sku, ln.quantity) for ln in body.lines),
                         coupon_code=body.coupon_code, coupon_id=body.coupon_id, points=body.points,
                         group=group_buys.Seat(body.group_buy.deal_id, body.group_buy.group_id)
                         if body.group_buy else None, bargain_id=body.bargain_id, reward_id=body.reward_id)
    return _place(svc, who, req, idempotency_key, "POST /orders", body)


@router.get("/orders", response_model=R.Paged[R.OrderOut])
def list_orders(who: Caller, svc: Svc, paging: Paging, status: Annotated[str | None, Query(max_length=24)] = None,
                customer_id: Annotated[str | None, Query(max_length=64)] = None,
                updated_since: datetime | None = None) -> dict:
    """Orders, newest change last (for incremental reads by ``updated_since``); shoppers see their own,
    staff their store's."""
    q = select(Order).order_by(Order.updated_at, Order.id)
    if who.role == "shopper":
        q = q.where(Order.customer_id == who.customer_id)
    elif who.role == "store_staff":
        q = q.where(Order.store_id == who.store_id)
    elif who.role == "marketer":
        raise ApiError(403, "forbidden", "marketers do not act on orders")
    if status:
        q = q.where(Order.status == status)
    if customer_id:
        q = q.where(Order.customer_id == customer_id)
    if updated_since:
        q = q.where(Order.updated_at > as_utc(updated_since))
    with svc.reads() as s:
        out = paginate(s, q, paging, lambda o: o)
        out["items"] = [order_dict(s, o) for o in out["items"]]
    return out


@router.get("/orders/{order_id}", response_model=R.OrderOut)
def get_order(order_id: Ident, who: Caller, svc: Svc) -> dict:
    with svc.reads() as s:
        return order_dict(s, _load(s, who, order_id, lock=False))


@router.post("/orders/{order_id}/payments", status_code=201, response_model=R.PaymentStarted)
def pay(order_id: Ident, body: PaymentIn, who: Caller, svc: Svc, idempotency_key: IdemKey = None) -> dict:
    """Pay (part of) an order. ``stored_value`` settles at once; WeChat Pay / Alipay return the provider's
    payload and settle when its signed callback arrives."""

    def work(session: Session) -> dict:
        order = _load(session, who, order_id)
        payment, payload = svc.payments.start(session, order, body.method, body.amount)
        session.flush()
        return {"payment": payment_dict(payment, payload), "order": order_dict(session, order)}

    response, replayed = idempotency.run(svc.sessions, who.name, f"POST /orders/{order_id}/payments",
                                         idempotency_key, body, work)
    return {**response, "idempotent_replay": replayed}


@router.get("/orders/{order_id}/payments", response_model=R.Items[R.PaymentOut])
def list_payments(order_id: Ident, who: Caller, svc: Svc) -> dict:
    with svc.reads() as s:
        _load(s, who, order_id, lock=False)
        rows = s.execute(select(Payment).where(Payment.order_id == order_id).order_by(Payment.created_at)).scalars()
        return {"items": [payment_dict(p) for p in rows]}


@router.post("/orders/{order_id}/cancel", response_model=R.OrderOut)
def cancel(order_id: Ident, body: CancelIn, who: Caller, svc: Svc) -> dict:
    """Cancel before shipping: stock released, payments refunded."""
    with transaction(svc.sessions) as s:
        order = _load(s, who, order_id)
        orders.cancel(s, order, body.reason, utcnow(), lambda o, r: svc.payments.refund(s, o, r), svc.settings)
        return order_dict(s, order)


@router.post("/orders/{order_id}/ship", response_model=R.OrderOut)
def ship(order_id: Ident, who: Caller, svc: Svc) -> dict:
    """Hand a delivery order's shipments to the carrier: waybills, and the sale leaves stock."""
    who.require("store_staff", "service")
    with transaction(svc.sessions) as s:
        order = _load(s, who, order_id)
        if who.role == "store_staff" and any(sh.location_id != who.store_id for sh in orders.shipments_of(s, order.id)):
            raise ApiError(403, "forbidden", "this order ships from other locations too")
        orders.ship(s, order, svc.carrier, utcnow())
        return order_dict(s, order)


@router.post("/orders/{order_id}/ready-for-pickup", response_model=R.OrderOut)
def ready_for_pickup(order_id: Ident, who: Caller, svc: Svc) -> dict:
    who.require("store_staff")
    with transaction(svc.sessions) as s:
        order = _load(s, who, order_id)
        orders.ready_for_pickup(s, order, utcnow())
        return order_dict(s, order)


@router.post("/orders/{order_id}/picked-up", response_model=R.OrderOut)
def picked_up(order_id: Ident, who: Caller, svc: Svc) -> dict:
    """The shopper collected a pickup order at the store."""
    who.require("store_staff")
    with transaction(svc.sessions) as s:
        order = _load(s, who, order_id)
        if order.status != "ready_for_pickup":
            raise conflict("not_ready", f"order {order.id} is {order.status}, not ready for pickup")
        orders.complete(s, order, utcnow())
        return order_dict(s, order)


@router.post("/orders/{order_id}/returns", status_code=201, response_model=R.ReturnWithOrder)
def request_return(order_id: Ident, body: ReturnIn, who: Caller, svc: Svc) -> dict:
    """Ask to return or exchange lines of a completed order; approved at once when the rules allow."""
    with transaction(svc.sessions) as s:
        order = _load(s, who, order_id)
        req = aftersale.request(s, svc.settings, svc.payments, order, [ln.model_dump() for ln in body.lines],
                                body.kind, body.reason, utcnow())
        return {**return_dict(req), "order": order_dict(s, order)}


def return_dict(r: ReturnRequest) -> dict:
    return {"id": r.id, "order_id": r.order_id, "kind": r.kind, "lines": r.lines, "amount": r.amount, "points": r.points,
            "status": r.status, "priority": r.priority, "reason": r.reason, "decision": r.decision,
            "created_at": iso(r.created_at)}


@router.get("/returns", response_model=R.Paged[R.ReturnOut])
def list_returns(who: Caller, svc: Svc, paging: Paging,
                 status: Literal["approved", "pending_review", "rejected"] = "pending_review") -> dict:
    """Return requests; high-priority (gold and diamond members) first."""
    who.require("store_staff", "service")
    q = select(ReturnRequest).where(ReturnRequest.status == status)
    if who.role == "store_staff":
        q = q.join(Order, Order.id == ReturnRequest.order_id).where(Order.store_id == who.store_id)
    q = q.order_by((ReturnRequest.priority == "high").desc(), ReturnRequest.created_at, ReturnRequest.id)
    with svc.reads() as s:
        return paginate(s, q, paging, return_dict)


@router.post("/returns/{request_id}/decision", response_model=R.ReturnOut)
def decide_return(request_id: Annotated[int, Path(ge=1, le=2**62)], body: DecisionIn, who: Caller, svc: Svc) -> dict:
    who.require("store_staff", "service")
    with transaction(svc.sessions) as s:
        req = s.get(ReturnRequest, request_id)
        if req is None:
            raise not_found("return request", request_id)
        _load(s, who, req.order_id)
        req = aftersale.decide(s, svc.settings, svc.payments, request_id, body.approve, body.note, utcnow())
        return return_dict(req)


# ---------------------------------------------------------------------------------------- carts
def cart_dict(session: Session, c: Cart) -> dict:
    lines = session.execute(select(CartLine).where(CartLine.cart_id == c.id).order_by(CartLine.sku)).scalars()
    return {"id": c.id, "customer_id": c.customer_id, "channel": c.channel, "store_id": c.store_id,
            "order_id": c.checked_out_order_id,
            "lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in lines]}


def _cart(session: Session, who: Principal, cart_id: str, lock: bool = False) -> Cart:
    cart = session.get(Cart, cart_id, with_for_update=lock)
    if cart is None:
        raise not_found("cart", cart_id)
    if who.role == "shopper":
        who.check_customer(cart.customer_id)
    elif who.role == "store_staff":
        if cart.store_id != who.store_id:
            raise ApiError(403, "forbidden", f"cart {cart_id} is not one of store {who.store_id}'s")
    elif who.role == "marketer":
        raise ApiError(403, "forbidden", "marketers do not act on carts")
    return cart


@router.post("/carts", status_code=201, response_model=R.CartOut)
def create_cart(body: CartIn, who: Caller, svc: Svc) -> dict:
    """A cart: a shopper's own online cart, or a till cart of a store (staff: their store's)."""
    who.require("shopper", "store_staff", "service")
    customer_id = who.customer_id if who.role == "shopper" else body.customer_id
    store_id = who.store_id if who.role == "store_staff" and body.store_id is None else body.store_id
    if who.role == "shopper" and (body.customer_id not in (None, who.customer_id) or body.store_id is not None):
        raise ApiError(403, "forbidden", "a shopper's cart is their own online cart")
    who.check_store(store_id)
    with transaction(svc.sessions) as s:
        if store_id is not None:
            location = s.get(Location, store_id)
            if location is None or location.kind != "store":
                raise not_found("store", store_id)
        cart = Cart(id=str(uuid.uuid4()), customer_id=customer_id, channel=body.channel, store_id=store_id,
                    updated_at=utcnow())
        s.add(cart)
        s.flush()
        return cart_dict(s, cart)


@router.get("/carts/{cart_id}", response_model=R.CartOut)
def get_cart(cart_id: Ident, who: Caller, svc: Svc) -> dict:
    with svc.reads() as s:
        return cart_dict(s, _cart(s, who, cart_id))


@router.put("/carts/{cart_id}/lines/{sku}", response_model=R.CartOut)
def set_cart_line(cart_id: Ident, sku: Ident, body: CartLineIn, who: Caller, svc: Svc) -> dict:
    """Set the quantity of a SKU in the cart (0 removes it). Stock is reserved at checkout, not here."""
    with transaction(svc.sessions) as s:
        cart = _cart(s, who, cart_id, lock=True)
        if cart.checked_out_order_id:
            raise conflict("checked_out", f"cart {cart_id} became order {cart.checked_out_order_id}")
        if s.get(Sku, sku) is None:
            raise not_found("sku", sku)
        line = s.get(CartLine, (cart_id, sku))
        if body.quantity == 0:
            if line is not None:
                s.delete(line)
        elif line is None:
            s.add(CartLine(cart_id=cart_id, sku=sku, quantity=body.quantity))
        else:
            line.quantity = body.quantity
        cart.updated_at = utcnow()
        s.flush()
        return cart_dict(s, cart)


@router.post("/carts/{cart_id}/checkout", status_code=201, response_model=R.PlacedOrder)
def checkout(cart_id: Ident, body: CheckoutIn, who: Caller, svc: Svc, idempotency_key: IdemKey = None
             ) -> JSONResponse:
    """Turn the cart into an order (stock reserved). Use an ``Idempotency-Key`` against double submits."""
    with svc.reads() as s:
        cart = _cart(s, who, cart_id)
        if cart.checked_out_order_id and idempotency_key is None:
            raise conflict("checked_out", f"cart {cart_id} became order {cart.checked_out_order_id}")
        lines = tuple(orders.LineIn(ln.sku, ln.quantity) for ln in s.execute(
            select(CartLine).where(CartLine.cart_id == cart_id).order_by(CartLine.sku)).scalars())
    req = orders.OrderIn(channel=cart.channel, fulfillment=body.fulfillment, customer_id=cart.customer_id,
                         store_id=body.store_id or cart.store_id, delivery_region=body.delivery_region, lines=lines,
                         coupon_code=body.coupon_code, coupon_id=body.coupon_id, points=body.points)

    def mark(session: Session, order: Order) -> None:
        locked = session.get(Cart, cart_id, with_for_update=True)
        if locked.checked_out_order_id:
            raise conflict("checked_out", f"cart {cart_id} became order {locked.checked_out_order_id}")
        locked.checked_out_order_id = order.id

    return _place(svc, who, req, idempotency_key, f"POST /carts/{cart_id}/checkout", body, after=mark)
