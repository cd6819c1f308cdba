"""Orders: creation with reservation, the state machine, allocation, fulfilment and expiry.

States::

    created --pay--> paid --allocate--> allocated --ship--> shipped --delivered--> completed
       |  \\-deposit--> deposit_paid --balance--/     \\--ready--> ready_for_pickup --pick up--/
       |                                           \\--(till orders: handed over)--> completed
       +--> cancelled (timeout, shopper or staff; reservations released, payments refunded)
    completed --return approved--> returned

Stock: order creation reserves (reserved += q) at the planned locations for a time-to-live;
full payment turns reservations into allocations (reserved -= q, allocated += q); shipping or
handing over is the sale (allocated -= q, on_hand -= q). Cancelling releases whichever is held.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, Row, Select, String, bindparam, case, delete, func, select
from sqlalchemy.orm import Session

from commerce_api import bargains, campaigns, coupons, discounts, group_buys, inventory, loyalty, rewards
from commerce_api.allocation import free_stock_of, plan
from commerce_api.clock import utcnow
from commerce_api.db import core, dialect_insert, driver_rows, on_postgresql
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.pricing import cheapest_flash_sale, price_from_row, with_prices
from commerce_api.schema import (
    Customer,
    FlashPurchase,
    FlashSale,
    Location,
    Order,
    OrderDiscount,
    OrderLine,
    Product,
    Shipment,
    Sku,
    TierRule,
)
from data.settings import Settings

TRANSITIONS: dict[str, set[str]] = {
    "created": {"paid", "deposit_paid", "cancelled"},
    "deposit_paid": {"paid", "cancelled"},
    "paid": {"allocated", "cancelled"},
    "allocated": {"shipped", "ready_for_pickup", "completed", "cancelled"},
    "shipped": {"completed"},
    "ready_for_pickup": {"completed", "cancelled"},
    "completed": {"returned"},
    "cancelled": {"created"},  # only a late payment whose stock could be reserved again (reserve_again)
    "returned": set(),
}
TILL_CHANNELS = ("store_pos", "self_checkout")


@dataclass(frozen=True)
class LineIn:
    sku: str
    quantity: int


@dataclass(frozen=True)
class OrderIn:
    channel: str
    fulfillment: str  # delivery | pickup | in_store
    lines: tuple[LineIn, ...]
    customer_id: str | None = None
    store_id: str | None = None
    delivery_region: str | None = None
    coupon_code: str | None = None
    coupon_id: int | None = None
    points: int = 0  # points to redeem (one pays one minor unit)
    group: group_buys.Seat | None = None  # a group-buy order: open or join a group of a deal
    bargain_id: int | None = None  # buy a bargain at the price friends cut it to
    reward_id: int | None = None  # take a points reward's SKU for points
    by_staff: bool = False  # placed by store staff at their till (staff-only coupons apply)


def transition(order: Order, to: str, now: datetime) -> None:
    if to not in TRANSITIONS[order.status]:
        raise conflict("illegal_transition", f"order {order.id} is {order.status}; it cannot become {to}",
                       {"from": order.status, "to": to, "allowed": sorted(TRANSITIONS[order.status])})
    order.status, order.updated_at = to, now


def get_order(session: Session, order_id: str, lock: bool = False) -> Order:
    q = select(Order).where(Order.id == order_id)
    order = session.execute(q.with_for_update() if lock else q).scalar_one_or_none()
    if order is None:
        raise not_found("order", order_id)
    return order


def lines_of(session: Session, order_id: str) -> list[OrderLine]:
    return list(session.execute(select(OrderLine).where(OrderLine.order_id == order_id)
                                .order_by(OrderLine.line_number)).scalars())


def _take_flash_quota(session: Session, sale: FlashSale, customer_id: str, quantity: int) -> None:
    """Count units against the customer's limit in one conditional upsert (race-free)."""
    if quantity > sale.per_customer_limit:
        raise conflict("flash_sale_limit", f"at most {sale.per_customer_limit} per customer in this flash sale")
    stmt = dialect_insert(session, FlashPurchase).values(flash_sale_id=sale.id, customer_id=customer_id, quantity=quantity)
    stmt = stmt.on_conflict_do_update(
        index_elements=["flash_sale_id", "customer_id"],
        set_={"quantity": FlashPurchase.quantity + stmt.excluded.quantity},
        where=FlashPurchase.quantity + stmt.excluded.quantity <= sale.per_customer_limit,
    ).returning(FlashPurchase.quantity)
    if session.execute(stmt).first() is None:
        raise conflict("flash_sale_limit", f"at most {sale.per_customer_limit} per customer in this flash sale")


def _return_flash_quota(session: Session, order: Order, lines: list[OrderLine]) -> None:
    for line in lines:
        if line.flash_sale_id and order.customer_id:
            row = session.get(FlashPurchase, (line.flash_sale_id, order.customer_id), with_for_update=True)
            if row is not None:
                row.quantity = max(row.quantity - line.quantity, 0)


# The region an order is priced and allocated for: the delivery region, else the store's (pickup and
# till orders), else the customer's.
_CUSTOMER_REGION = select(Customer.region).where(Customer.id == bindparam("customer_id")).scalar_subquery()
_CUSTOMER_TIER = select(Customer.tier).where(Customer.id == bindparam("customer_id")).scalar_subquery()
_ORDER_REGION = case(
    (bindparam("store_id", type_=String).is_not(None),
     func.coalesce(bindparam("delivery_region", type_=String),
                   select(Location.region).where(Location.id == bindparam("store_id")).scalar_subquery())),
    else_=func.coalesce(bindparam("delivery_region", type_=String), _CUSTOMER_REGION))


def _order_skus(of_skus: ColumnElement[bool]) -> Select:
    """Everything checkout reads before it plans, in one round trip: the SKUs (``of_skus``) with what it
    needs of their products, their prices in force and running flash sales, their free stock, the
    customer and the order's region. Rows (read, never changed here)."""
    return with_prices(
        select(Sku.sku, Sku.product_id, Sku.listed, Sku.visible_channels, Sku.stock_pools,
               Product.listed.label("product_listed"), Product.presale_ship_after, Product.presale_deposit_pct,
               Product.category, cheapest_flash_sale(Sku.sku).label("flash_sale_id"),
               select(Customer.id).where(Customer.id == bindparam("customer_id")).scalar_subquery().label("customer_id"),
               _CUSTOMER_TIER.label("tier"),
               select(TierRule.discount_percent).where(TierRule.tier == _CUSTOMER_TIER).scalar_subquery()
               .label("tier_percent"),
               _ORDER_REGION.label("region"), free_stock_of(Sku.sku).label("stock"))
        .join(Product, Product.id == Sku.product_id).where(of_skus),
        _ORDER_REGION)


# Built once with bind parameters (building it costs more than running it).
_ORDER_SKUS = _order_skus(Sku.sku.in_(bindparam("skus", expanding=True)))


@functools.lru_cache(maxsize=256)
def _order_skus_pg(count: int) -> Select:
    """``_ORDER_SKUS`` for ``count`` SKUs bound one by one (``sku_0``, ``sku_1``, ...), to run straight
    through the driver (``db.driver_rows``). Not ``= ANY(<array>)``: PostgreSQL plans that statement
    afresh on every run (measured: 400 us of its CPU against 107 us)."""
    return _order_skus(Sku.sku.in_([bindparam(f"sku_{i}", type_=String) for i in range(count)]))


def _validate(session: Session, req: OrderIn, now: datetime) -> tuple[dict[str, int], dict[str, Row]]:
    """The wanted quantity per SKU and the ``_ORDER_SKUS`` row per SKU; 4xx for anything amiss."""
    if not req.lines:
        raise ApiError(422, "empty_order", "an order needs at least one line")
    if req.fulfillment not in ("delivery", "pickup", "in_store"):
        raise ApiError(422, "invalid_fulfillment", "fulfillment is delivery, pickup or in_store")
    if req.fulfillment == "in_store" and req.channel not in TILL_CHANNELS:
        raise ApiError(422, "invalid_fulfillment", f"in_store orders come from {' or '.join(TILL_CHANNELS)}")
    if req.fulfillment != "delivery" and not req.store_id:
        raise ApiError(422, "store_required", f"a {req.fulfillment} order needs a store_id")
    wanted: dict[str, int] = {}
    for line in req.lines:
        if line.quantity <= 0:
            raise ApiError(422, "invalid_quantity", f"quantity of {line.sku} must be positive")
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    params = {"customer_id": req.customer_id, "at": now, "store_id": req.store_id,
              "delivery_region": req.delivery_region, "channel": req.channel,
              "at_store": req.store_id if req.fulfillment != "delivery" else None}
    if on_postgresql(session):
        params.update((f"sku_{i}", sku) for i, sku in enumerate(wanted))
        rows = driver_rows(session, _order_skus_pg(len(wanted)), params)
    else:
        rows = core(session).execute(_ORDER_SKUS, {**params, "skus": list(wanted)}).all()
    if req.customer_id:
        # no SKU row to carry the customer: look it up on its own
        found = rows[0].customer_id if rows else session.get(Customer, req.customer_id)
        if found is None:
            raise not_found("customer", req.customer_id)
    if req.store_id and session.get(Location, req.store_id) is None:
        raise not_found("store", req.store_id)
    skus = {row.sku: row for row in rows}
    missing = sorted(set(wanted) - set(skus))
    if missing:
        raise ApiError(422, "unknown_sku", f"unknown SKU(s): {', '.join(missing)}", {"skus": missing})
    for sku, row in skus.items():
        if not (row.listed and row.product_listed):
            raise ApiError(422, "not_listed", f"{sku} is not listed")
        if row.visible_channels is not None and req.channel not in row.visible_channels:
            raise ApiError(422, "not_visible", f"{sku} is not sold in channel {req.channel}")
    return wanted, skus


def _price(session: Session, req: OrderIn, skus: dict[str, Row], wanted: dict[str, int], unit: dict[str, int],
           fixed: set[str], chosen: coupons.Chosen | None, points_cap_percent: int,
           now: datetime, reward=None) -> discounts.Priced:
    """The order priced per SKU (line ``n`` = the n-th SKU of ``wanted``): points reward, tier, campaign,
    coupon, points; SKUs in ``fixed`` (a flash-sale, group, bargain or reward price) take points only."""
    lines = [discounts.Line(n, sku, skus[sku].category, qty, unit[sku], flash=sku in fixed)
             for n, (sku, qty) in enumerate(wanted.items(), start=1)]
    paid_in_points = {ln.line_number: (f"reward:{reward.id}", reward.points * ln.quantity)
                      for ln in lines if reward is not None and ln.sku == reward.sku}
    first = next(iter(skus.values()))
    running = campaigns.running_rules(session, req.customer_id, req.channel, req.store_id, now)
    if chosen is not None and not chosen.definition.stacks_with_campaigns:
        running = []
    return discounts.calculate(lines, tier=first.tier or "member", tier_percent=first.tier_percent or 0,
                               campaigns=running, coupon=chosen.rule if chosen else None, points=req.points,
                               points_cap_percent=points_cap_percent, rewards=paid_in_points)


def _shipping_fee(session: Session, req: OrderIn, tier: str | None, goods: int, delivery_fee: int) -> int:
    """The delivery fee, waived at or over the tier's free-shipping threshold (guests: the base
    tier's); none for pickup and till orders."""
    if req.fulfillment != "delivery" or delivery_fee <= 0:
        return 0
    threshold = session.scalar(select(TierRule.free_shipping_threshold).where(TierRule.tier == (tier or "member")))
    return 0 if threshold is not None and goods >= threshold else delivery_fee


def _discount_rows(order: Order, lines: list[OrderLine], sku_order: list[str],
                   priced: discounts.Priced) -> list[OrderDiscount]:
    """Each per-SKU discount line split over that SKU's order lines (by their amounts), as rows to
    write (not added to a session: ``db.insert_rows``)."""
    if not priced.discounts:
        return []
    by_sku: dict[str, dict[int, int]] = {}
    for line in lines:
        by_sku.setdefault(line.sku, {})[line.line_number] = line.unit_price * line.quantity
    rows = []
    for d in priced.discounts:
        for number, amount in discounts.split(d.amount, by_sku[sku_order[d.line_number - 1]]).items():
            rows.append({"order_id": order.id, "line_number": number, "source": d.source, "kind": d.kind,
                         "amount": amount, "created_at": order.created_at, "points": 0})
        if d.points:  # what the line cost in points, split over the same order lines
            for number, points in discounts.split(d.points, by_sku[sku_order[d.line_number - 1]],
                                                         bounded=False).items():
                next(r for r in rows if r["line_number"] == number and r["source"] == d.source)["points"] += points
    return [OrderDiscount(**row) for row in rows]


def place_order(session: Session, req: OrderIn, ttl_seconds: int, now: datetime | None = None,
                points_cap_percent: int = 100,
                delivery_fee: int = 0) -> tuple[Order, list[OrderLine], list[OrderDiscount]]:
    """Validate, price, plan, reserve: the order, its lines and its discount lines as written (not added to ``session``:
    load the order with ``get_order`` to change it; an order with nothing to pay is paid and
    allocated here, and returned loaded). Raises OutOfStock (409) when the stock is not there.

    Statements run in the order that keeps stock rows locked for the shortest time: reads first
    (SKUs, prices, flash sales, available stock), then the order, its lines and their reservations
    (one statement on PostgreSQL), just before commit."""
    now = now or utcnow()
    wanted, skus = _validate(session, req, now)
    region = next(iter(skus.values())).region
    pools = {sku: inventory.pool_of(skus[sku].stock_pools, req.channel) for sku in wanted}
    prices = {sku: price_from_row(row, region) for sku, row in skus.items()}
    running = {sku: session.get(FlashSale, row.flash_sale_id) for sku, row in skus.items() if row.flash_sale_id}
    sales = {sku: sale for sku, sale in running.items() if sale.price < prices[sku].price}
    if sales and not req.customer_id:
        raise ApiError(422, "member_required", f"{', '.join(sorted(sales))} in a flash sale: members only")
    unit = {sku: sales[sku].price if sku in sales else prices[sku].price for sku in wanted}
    if sum(x is not None for x in (req.group, req.bargain_id, req.reward_id)) > 1:
        raise ApiError(422, "one_deal", "an order is a group buy, a bargain or a points reward, not several")
    deal = group_buys.check(session, req.group, req.customer_id, wanted, now) if req.group else None
    if deal is not None:
        if req.fulfillment == "in_store":
            raise ApiError(422, "invalid_fulfillment", "a group-buy order waits for its group: not handed over at once")
        unit[deal.sku] = deal.group_price
    bargain = bargains.check(session, req.bargain_id, req.customer_id, wanted, now) if req.bargain_id else None
    if bargain is not None:
        unit[bargain[1].sku] = bargain[0].price
    reward = rewards.check(session, req.reward_id, req.customer_id, wanted, now) if req.reward_id else None
    chosen = coupons.choose(session, code=req.coupon_code, coupon_id=req.coupon_id, customer_id=req.customer_id,
                            channel=req.channel, store_id=req.store_id, now=now, by_staff=req.by_staff)
    if req.points and not req.customer_id:
        raise ApiError(422, "member_required", "points are redeemed by members")
    # flash-sale, group, bargain and reward prices take no further deal but points
    fixed = (set(sales) | ({deal.sku} if deal else set()) | ({bargain[1].sku} if bargain else set())
             | ({reward.sku} if reward else set()))
    priced = _price(session, req, skus, wanted, unit, fixed, chosen, points_cap_percent, now, reward)
    fee = _shipping_fee(session, req, next(iter(skus.values())).tier, priced.total, delivery_fee)
    # the seat first: a full group refuses before any stock is locked; a refusal later rolls it back
    group_id = group_buys.take_seat(session, deal, req.group, req.customer_id, now) if deal else None
    deposit, ship_after = 0, None
    for n, (sku, _) in enumerate(wanted.items(), start=1):  # the same whichever locations the stock comes from
        row = skus[sku]
        if row.presale_ship_after is not None:
            deposit += priced.net(n) * (row.presale_deposit_pct or 100) // 100
            ship_after = max(ship_after or row.presale_ship_after, row.presale_ship_after)
    order = Order(id=str(uuid.uuid4()), customer_id=req.customer_id, channel=req.channel, fulfillment=req.fulfillment,
                  store_id=req.store_id, delivery_region=region, status="created", total=priced.total + fee,
                  shipping_fee=fee, bargain_id=bargain[0].id if bargain else None,
                  subtotal=priced.subtotal, points_redeemed=priced.points,
                  coupon_definition_id=chosen.definition.id if chosen else None,
                  coupon_id=chosen.coupon.id if chosen and chosen.coupon else None, group_buy_id=group_id,
                  deposit=deposit,
                  paid=0, refunded=0, reserved_until=now + timedelta(seconds=ttl_seconds), ship_after=ship_after,
                  cancel_reason=None, created_at=now, updated_at=now, completed_at=None)
    for attempt in range(3):
        # the stock read with the SKUs first; after a lost race, read again
        stock = None if attempt else {sku: skus[sku].stock for sku in wanted}
        picks = plan(session, wanted, pools, req.fulfillment, req.store_id, region, stock)
        lines = [OrderLine(order_id=order.id, line_number=n, sku=p.sku, quantity=p.quantity, unit_price=unit[p.sku],
                           price_rule=(f"flash:{sales[p.sku].id}" if p.sku in sales else
                                       f"group:{deal.id}" if deal and p.sku == deal.sku else
                                       f"bargain:{bargain[0].id}" if bargain and p.sku == bargain[1].sku else
                                       prices[p.sku].rule),
                           location_id=p.location_id, pool=pools[p.sku], returned_quantity=0,
                           flash_sale_id=sales[p.sku].id if p.sku in sales else None)
                 for n, p in enumerate(picks, start=1)]
        taken_off = _discount_rows(order, lines, list(wanted), priced)
        # a concurrent checkout may take the stock between plan and reserve: then re-plan
        if inventory.reserve(session, [(p.sku, p.location_id, pools[p.sku], p.quantity) for p in picks],
                             f"order:{order.id}", rows_first=([] if attempt else [order], lines, taken_off)):
            break
        core(session).execute(delete(OrderDiscount).where(OrderDiscount.order_id == order.id))
        core(session).execute(delete(OrderLine).where(OrderLine.order_id == order.id))
        if attempt == 2:
            first = picks[0]
            raise inventory.OutOfStock(", ".join(sorted({p.sku for p in picks})),
                                       first.location_id if len(picks) == 1 else None, sum(wanted.values()))
    for sku, sale in sales.items():
        _take_flash_quota(session, sale, req.customer_id, wanted[sku])
    if bargain is not None:
        bargains.claim(session, bargain[0].id, order.id, now)
    if priced.points > req.points:
        loyalty.debit(session, req.customer_id, priced.points - req.points, "exchange", f"order:{order.id}", now)
    if req.points:
        loyalty.debit(session, req.customer_id, req.points, "redemption", f"order:{order.id}", now)
    if chosen is not None:  # last: a limited coupon's counter is one row that every use locks to commit
        coupons.claim(session, chosen, req.customer_id, order.id, now)
    if order.total == 0:  # nothing to pay (points, a full discount): paid as placed
        order = get_order(session, order.id, lock=True)
        record_payment(session, order, 0, now)
    return order, lines, taken_off


def create_order(session: Session, req: OrderIn, ttl_seconds: int, now: datetime | None = None) -> Order:
    return place_order(session, req, ttl_seconds, now)[0]


def amount_due(order: Order) -> int:
    """What the next payment must be: the deposit first for a pre-sale, else the rest of the total."""
    if order.status == "created" and order.deposit:
        return order.deposit
    return order.total - order.paid


def record_payment(session: Session, order: Order, amount: int, now: datetime) -> None:
    """Apply a succeeded payment to its order (deposit, or full payment which allocates)."""
    order.paid += amount
    if order.paid < order.total:
        transition(order, "deposit_paid", now)
        # the reservation now lasts until the balance is due: the pre-sale ship date
        order.reserved_until = datetime.combine(order.ship_after, datetime.min.time()) if order.ship_after else None
        return
    transition(order, "paid", now)
    allocate(session, order, now)


def allocate(session: Session, order: Order, now: datetime) -> None:
    """Reserved -> allocated per line, one shipment per source location. Till orders hand over at once."""
    lines = lines_of(session, order.id)
    for line in sorted(lines, key=lambda ln: (ln.sku, ln.location_id)):
        inventory.must_apply(session, line.sku, line.location_id, line.pool, "allocation",
                             reserved=-line.quantity, allocated=line.quantity, reference=f"order:{order.id}")
    for location_id in sorted({ln.location_id for ln in lines}):
        session.add(Shipment(order_id=order.id, location_id=location_id, status="allocated", updated_at=now))
    order.reserved_until = None
    transition(order, "allocated", now)
    if order.fulfillment == "in_store":
        session.flush()
        complete(session, order, now)


def _sell(session: Session, order: Order, lines: list[OrderLine], location_id: str) -> None:
    for line in lines:
        if line.location_id == location_id:
            inventory.must_apply(session, line.sku, line.location_id, line.pool, "sale", allocated=-line.quantity,
                                 on_hand=-line.quantity, reference=f"order:{order.id}")


def shipments_of(session: Session, order_id: str) -> list[Shipment]:
    return list(session.execute(select(Shipment).where(Shipment.order_id == order_id)
                                .order_by(Shipment.id)).scalars())


def ship(session: Session, order: Order, carrier, now: datetime, today: date | None = None) -> list[Shipment]:
    """Hand every shipment of a delivery order to the carrier (waybills), and record the sale."""
    if order.fulfillment != "delivery":
        raise conflict("not_delivery", f"order {order.id} is {order.fulfillment}: it is not shipped")
    if order.ship_after and (today or now.date()) < order.ship_after:
        raise conflict("presale_not_due", f"pre-sale order {order.id} ships from {order.ship_after}")
    group_buys.require_formed(session, order)
    transition(order, "shipped", now)
    lines = lines_of(session, order.id)
    shipments = shipments_of(session, order.id)
    for shipment in shipments:
        _sell(session, order, lines, shipment.location_id)
        shipment.waybill = carrier.create_waybill(order.id, shipment.id, shipment.location_id, order.delivery_region)
        shipment.carrier, shipment.status, shipment.tracking_status, shipment.updated_at = (
            carrier.name, "shipped", "created", now)
    return shipments


def ready_for_pickup(session: Session, order: Order, now: datetime) -> None:
    if order.fulfillment != "pickup":
        raise conflict("not_pickup", f"order {order.id} is not a pickup order")
    group_buys.require_formed(session, order)
    transition(order, "ready_for_pickup", now)


def complete(session: Session, order: Order, now: datetime) -> None:
    """The shopper has the goods: picked up / handed over (sale recorded here), or delivered."""
    transition(order, "completed", now)
    order.completed_at = now
    if order.fulfillment in ("pickup", "in_store"):
        lines = lines_of(session, order.id)
        for shipment in shipments_of(session, order.id):
            _sell(session, order, lines, shipment.location_id)
            shipment.status, shipment.updated_at = "picked_up", now
    if order.customer_id:  # points follow when the return window closes (loyalty.mature); the tier at once
        session.flush()
        loyalty.evaluate_tiers(session, now, customer_id=order.customer_id)


def release_stock(session: Session, order: Order, lines: list[OrderLine]) -> None:
    """Give back what the order holds: reservations before payment, allocations after."""
    held = "reserved" if order.status in ("created", "deposit_paid") else "allocated"
    for line in sorted(lines, key=lambda ln: (ln.sku, ln.location_id)):
        kind = "release" if held == "reserved" else "deallocation"
        inventory.must_apply(session, line.sku, line.location_id, line.pool, kind,
                             **{held: -line.quantity}, reference=f"order:{order.id}")


def cancel(session: Session, order: Order, reason: str, now: datetime, refund, settings: Settings) -> None:
    """Cancel, release stock and flash quota, give back the coupon and redeemed points, refund what
    was paid (``refund(order, reason)``)."""
    if "cancelled" not in TRANSITIONS[order.status]:
        raise conflict("illegal_transition", f"order {order.id} is {order.status}; it cannot be cancelled",
                       {"from": order.status, "to": "cancelled"})
    lines = lines_of(session, order.id)
    release_stock(session, order, lines)
    _return_flash_quota(session, order, lines)
    for shipment in shipments_of(session, order.id):
        session.delete(shipment)
    transition(order, "cancelled", now)
    order.cancel_reason, order.reserved_until = reason, None
    coupons.give_back(session, order, now)
    group_buys.give_seat_back(session, order, now)
    bargains.give_back(session, order, now)
    loyalty.refund_redeemed(session, settings, order, order.points_redeemed, f"order:{order.id}:cancelled", now)
    if order.paid > order.refunded:
        refund(order, reason)


def reserve_again(session: Session, order: Order, now: datetime) -> bool:
    """For a payment that arrives after its order expired: take the same stock again if it is still
    there (all lines or none). Returns whether it worked."""
    lines = lines_of(session, order.id)
    try:
        with session.begin_nested():  # the flash-sale quotas and the group seat too, or nothing
            if order.group_buy_id is not None:
                group_buys.retake_seat(session, order.group_buy_id, now)
            if not inventory.reserve(session, [(ln.sku, ln.location_id, ln.pool, ln.quantity) for ln in lines],
                                     f"order:{order.id}:late-payment"):
                raise conflict("out_of_stock", "the stock is gone")  # rolls the seat back too
            for line in lines:
                if line.flash_sale_id and order.customer_id:
                    _take_flash_quota(session, session.get(FlashSale, line.flash_sale_id), order.customer_id,
                                      line.quantity)
    except ApiError:
        return False
    transition(order, "created", now)  # holds a reservation again; record_payment moves it on
    order.cancel_reason = None
    return True


def expired_order_ids(session: Session, now: datetime, limit: int = 500) -> list[str]:
    return list(session.execute(
        select(Order.id).where(Order.status.in_(("created", "deposit_paid")), Order.reserved_until.is_not(None),
                               Order.reserved_until < now).order_by(Order.reserved_until).limit(limit)).scalars())
