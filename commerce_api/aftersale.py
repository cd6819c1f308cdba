"""Returns and exchanges with automatic approval.

A request is approved at once when it passes every rule: the order was completed no more than
``return_window_days`` ago, no item is in a non-returnable category, and the amount is under the
limit (times the member's tier's ``return_limit_factor``: twice for gold and diamond by default).
Otherwise it waits for staff review, those tiers' requests first (priority ``high``). The money
back is the returned units less their share of every discount of the order (``discounts``); the
share paid in points goes back as points. An approved return puts the units back
on hand where they were sold from and refunds them through the original payment; an exchange
puts them back and hands out the same SKU again from that location.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce_api import inventory, loyalty, orders
from commerce_api.discounts import returned_share
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.payments import Payments
from commerce_api.schema import (
    Customer,
    Order,
    OrderDiscount,
    OrderLine,
    Product,
    ReturnRequest,
    Sku,
    TierRule,
)
from data.settings import Settings


def _checked_lines(session: Session, order: Order, wanted: list[dict]) -> list[tuple[OrderLine, int, int]]:
    """(line, quantity, units already returned or asked for) per wanted line; 422 beyond what is left."""
    by_number = {ln.line_number: ln for ln in orders.lines_of(session, order.id)}
    pending = session.execute(select(ReturnRequest).where(
        ReturnRequest.order_id == order.id, ReturnRequest.status == "pending_review")).scalars()
    held: dict[int, int] = {}
    for req in pending:
        for item in req.lines:
            held[item["line_number"]] = held.get(item["line_number"], 0) + item["quantity"]
    out = []
    for item in wanted:
        line = by_number.get(item["line_number"])
        if line is None:
            raise ApiError(422, "unknown_line", f"order {order.id} has no line {item['line_number']}")
        left = line.quantity - line.returned_quantity - held.get(line.line_number, 0)
        if not 0 < item["quantity"] <= left:
            raise ApiError(422, "invalid_quantity", f"line {line.line_number}: at most {left} can be returned")
        out.append((line, item["quantity"], line.returned_quantity + held.get(line.line_number, 0)))
    return out


def refund_of(session: Session, order: Order, picked: list[tuple[OrderLine, int, int]]) -> tuple[int, int]:
    """(money, points) back for returning ``picked``: the units' amount less their share of each
    discount line; the share of the points a line cost (redeemed, or paid for a reward) comes back as
    points. The shipping fee is not refunded for returned lines."""
    shares = session.execute(select(OrderDiscount).where(OrderDiscount.order_id == order.id)).scalars().all()
    money = points = 0
    for line, q, before in picked:
        money += line.unit_price * q
        for d in shares:
            if d.line_number == line.line_number:
                share = returned_share(d.amount, line.quantity, before, q)
                money -= share
                points += returned_share(d.points, line.quantity, before, q)
    return money, points


def request(session: Session, settings: Settings, payments: Payments, order: Order, lines: list[dict],
            kind: str, reason: str | None, now: datetime) -> ReturnRequest:
    if kind not in ("return", "exchange"):
        raise ApiError(422, "invalid_kind", "kind is return or exchange")
    if order.status != "completed" or order.completed_at is None:
        raise conflict("not_returnable", f"order {order.id} is {order.status}: only completed orders can be returned")
    if not lines:
        raise ApiError(422, "empty_request", "name at least one line to return")
    picked = _checked_lines(session, order, lines)
    amount, points = refund_of(session, order, picked)
    factor = session.execute(select(TierRule.return_limit_factor).join(Customer, Customer.tier == TierRule.tier)
                             .where(Customer.id == order.customer_id)).scalar() if order.customer_id else None
    limit = settings.auto_approve_limit * (factor or 1)
    categories = {row[0]: row[1] for row in session.execute(
        select(Sku.sku, Product.category).join(Product, Product.id == Sku.product_id)
        .where(Sku.sku.in_([line.sku for line, _, _ in picked])))}
    problems = []
    if now - order.completed_at > timedelta(days=settings.return_window_days):
        problems.append(f"more than {settings.return_window_days} days since delivery")
    blocked = sorted({categories[line.sku] for line, _, _ in picked} & set(settings.non_returnable_categories))
    if blocked:
        problems.append(f"category not returnable: {', '.join(blocked)}")
    if amount > limit:
        problems.append(f"amount {amount} over the automatic limit {limit}")
    req = ReturnRequest(order_id=order.id, kind=kind, amount=amount, points=points, reason=reason, created_at=now,
                        lines=[{"line_number": line.line_number, "quantity": q} for line, q, _ in picked],
                        priority="high" if (factor or 1) > 1 else "normal", status="pending_review",
                        decision="; ".join(problems) or None)
    session.add(req)
    session.flush()
    if not problems:
        execute(session, settings, payments, order, req, "approved automatically", now)
    return req


def execute(session: Session, settings: Settings, payments: Payments, order: Order, req: ReturnRequest,
            decision: str, now: datetime) -> None:
    """Stock back where it was sold from; refund (return) or hand out the same SKU again (exchange)."""
    by_number = {ln.line_number: ln for ln in orders.lines_of(session, order.id)}
    for item in req.lines:
        line = by_number[item["line_number"]]
        q = item["quantity"]
        inventory.must_apply(session, line.sku, line.location_id, line.pool, "return", on_hand=q,
                             reference=f"return:{req.id}")
        if req.kind == "exchange":
            inventory.must_apply(session, line.sku, line.location_id, line.pool, "sale", on_hand=-q,
                                 reference=f"exchange:{req.id}")
        else:
            line.returned_quantity += q
    req.status, req.decision, req.decided_at = "approved", decision, now
    if req.kind == "return":
        refunded_before = order.refunded
        if req.amount:
            payments.refund(session, order, f"return:{req.id}", req.amount)
        loyalty.refund_redeemed(session, settings, order, req.points, f"return:{req.id}", now)
        loyalty.reverse_for_refund(session, order, refunded_before, req.amount, now)
        if all(ln.returned_quantity == ln.quantity for ln in by_number.values()):
            orders.transition(order, "returned", now)
    order.updated_at = now


def decide(session: Session, settings: Settings, payments: Payments, request_id: int, approve: bool,
           note: str | None, now: datetime) -> ReturnRequest:
    req = session.get(ReturnRequest, request_id, with_for_update=True)
    if req is None:
        raise not_found("return request", request_id)
    if req.status != "pending_review":
        raise conflict("already_decided", f"return request {request_id} is {req.status}")
    order = orders.get_order(session, req.order_id, lock=True)
    if approve:
        execute(session, settings, payments, order, req, note or "approved by staff", now)
    else:
        req.status, req.decision, req.decided_at = "rejected", note or "rejected by staff", now
    return req
