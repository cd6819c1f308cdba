"""One member across channels: an online sign-up and a store card of the same person, found by
their verified phone, merged into one.

The survivor keeps its id and member code; the other member's code still finds the survivor at the
till, and its API keys act for the survivor. Orders and carts move over (their ``updated_at`` too, so the warehouse re-reads them);
points move lot by lot, keeping each lot's expiry (a ``merge_out`` entry on one side, ``merge_in``
entries on the other: the ledgers stay append-only in their amounts); the stored-value balance moves
through both cards' ledgers; coupons move unless the survivor holds the same one. The survivor keeps
the higher tier and is re-evaluated on the spend of both histories.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from commerce_api import loyalty
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.payments import stored_value_move
from commerce_api.schema import ApiKey, Cart, Coupon, Customer, Order, PointsEntry, TierRule


def merge(session: Session, survivor_id: str, other_id: str, phone: str, now: datetime) -> dict[str, int]:
    """Merge ``other_id`` into ``survivor_id``; both must carry ``phone``. Returns what moved."""
    if survivor_id == other_id:
        raise ApiError(422, "same_member", "a member cannot be merged into themself")
    members = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_([survivor_id, other_id]))
                                                .order_by(Customer.id).with_for_update())}
    for cid in (survivor_id, other_id):
        if cid not in members:
            raise not_found("customer", cid)
        if members[cid].merged_into:
            raise conflict("already_merged", f"{cid} was merged into {members[cid].merged_into}")
        if members[cid].phone != phone:
            raise ApiError(422, "phone_mismatch", f"{cid} does not carry that verified phone")
    survivor, other = members[survivor_id], members[other_id]
    moved = {"orders": len(session.execute(update(Order).where(Order.customer_id == other_id)
                                           .values(customer_id=survivor_id, updated_at=now)
                                           .returning(Order.id)).all())}
    session.execute(update(Cart).where(Cart.customer_id == other_id).values(customer_id=survivor_id))
    # the card's app and till keys act for the survivor from now on
    moved["api_keys"] = len(session.execute(update(ApiKey).where(ApiKey.customer_id == other_id)
                                            .values(customer_id=survivor_id).returning(ApiKey.id)).all())
    held = select(Coupon.definition_id).where(Coupon.customer_id == survivor_id)
    moved["coupons"] = len(session.execute(update(Coupon).where(Coupon.customer_id == other_id,
                                                                Coupon.definition_id.not_in(held))
                                           .values(customer_id=survivor_id, updated_at=now)
                                           .returning(Coupon.id)).all())
    moved["points"] = _move_points(session, other, survivor, now)
    moved["stored_value"] = other.stored_value
    if other.stored_value:
        stored_value_move(session, other_id, -other.stored_value, f"merged into {survivor_id}")
        stored_value_move(session, survivor_id, moved["stored_value"], f"merged from {other_id}")
    rank = dict(session.execute(select(TierRule.tier, TierRule.rank)).all())
    if rank.get(other.tier, 0) > rank.get(survivor.tier, 0):
        survivor.tier, survivor.tier_since = other.tier, other.tier_since
    other.merged_into, other.updated_at, survivor.updated_at = survivor_id, now, now
    session.flush()
    loyalty.evaluate_tiers(session, now, customer_id=survivor_id)
    return moved


def _move_points(session: Session, other: Customer, survivor: Customer, now: datetime) -> int:
    """Each unspent lot of ``other`` becomes a lot of ``survivor`` with the same availability and
    expiry; returns the points moved."""
    lots = session.scalars(select(PointsEntry).where(PointsEntry.customer_id == other.id, PointsEntry.remaining > 0)
                           .order_by(PointsEntry.id)).all()
    total = sum(lot.remaining for lot in lots)
    if not total:
        return 0
    for lot in lots:
        session.add(PointsEntry(customer_id=survivor.id, delta=lot.remaining, kind="merge_in",
                                reference=f"merge:{other.id}:{lot.id}", remaining=lot.remaining,
                                available_at=lot.available_at, expires_at=lot.expires_at, created_at=now))
        lot.remaining = 0
    session.add(PointsEntry(customer_id=other.id, delta=-total, kind="merge_out", reference=f"merge:{survivor.id}",
                            remaining=0, available_at=now, expires_at=None, created_at=now))
    session.execute(update(Customer).where(Customer.id == other.id).values(points=Customer.points - total))
    session.execute(update(Customer).where(Customer.id == survivor.id).values(points=Customer.points + total))
    session.refresh(other)
    session.refresh(survivor)
    return total


def resolve(session: Session, customer: Customer) -> Customer:
    """The member a (possibly merged) member record stands for now."""
    seen = 0
    while customer.merged_into and seen < 10:
        customer, seen = session.get(Customer, customer.merged_into), seen + 1
    return customer

