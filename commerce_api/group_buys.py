"""Group buys (拼团): a deal sells one SKU at a group price to groups of ``group_size`` members that
form within ``hours_to_form`` of being opened.

A member's order takes a seat when it is placed — one conditional ``UPDATE ... WHERE members <
size AND status = 'forming'``, so concurrent joiners never overfill a group — and gives it back
when it is cancelled while the group forms. The last seat forms the group. A group still forming at
its deadline fails: the loyalty/sweeper job cancels every order in it and refunds what was paid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from commerce_api.clock import iso
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.schema import GroupBuy, GroupDeal, Order


@dataclass(frozen=True)
class Seat:
    """What an order of a group buy is: its deal and group (``group_id`` None: open a new group)."""

    deal_id: int
    group_id: int | None = None


def check(session: Session, seat: Seat, customer_id: str | None, wanted: dict[str, int],
          now: datetime) -> GroupDeal:
    """The deal of an order, checked: live, a member's, one line of its SKU within its quantity."""
    deal = session.get(GroupDeal, seat.deal_id)
    if deal is None:
        raise not_found("group deal", str(seat.deal_id))
    if not customer_id:
        raise ApiError(422, "member_required", "group buys are for members")
    if not deal.starts_at <= now < deal.ends_at:
        raise conflict("deal_not_live", f"{deal.name} runs from {deal.starts_at:%Y-%m-%d %H:%M} "
                                        f"to {deal.ends_at:%Y-%m-%d %H:%M}")
    if list(wanted) != [deal.sku] or wanted[deal.sku] > deal.max_quantity:
        raise ApiError(422, "not_in_deal", f"a group-buy order is {deal.sku} alone, at most {deal.max_quantity}")
    return deal


def take_seat(session: Session, deal: GroupDeal, seat: Seat, customer_id: str, now: datetime) -> int:
    """Open a group (the member leads it) or join one; returns the group id. 409 when the group is
    full, formed, failed or past its deadline, or the member is in it already."""
    if seat.group_id is None:
        group = GroupBuy(deal_id=deal.id, leader_id=customer_id, size=deal.group_size, members=1,
                         status="forming", deadline=now + timedelta(hours=deal.hours_to_form),
                         created_at=now, updated_at=now)
        session.add(group)
        session.flush()
        return group.id
    group = session.get(GroupBuy, seat.group_id)
    if group is None or group.deal_id != deal.id:
        raise not_found("group", str(seat.group_id))
    already = session.scalar(select(Order.id).where(Order.group_buy_id == group.id, Order.customer_id == customer_id,
                                                    Order.status != "cancelled").limit(1))
    if already is not None:
        raise conflict("already_in_group", f"you are in group {group.id} already (order {already})")
    retake_seat(session, group.id, now)
    return group.id


def retake_seat(session: Session, group_id: int, now: datetime) -> None:
    """One more seat in a forming group (the last one forms it), or 409 ``group_closed``."""
    taken = session.execute(
        update(GroupBuy)
        .where(GroupBuy.id == group_id, GroupBuy.status == "forming", GroupBuy.members < GroupBuy.size,
               GroupBuy.deadline > now)
        .values(members=GroupBuy.members + 1, updated_at=now,
                status=case((GroupBuy.members + 1 == GroupBuy.size, "formed"), else_="forming"))
        .returning(GroupBuy.members)).first()
    if taken is None:
        raise conflict("group_closed", f"group {group_id} is full, formed or past its deadline")


def require_formed(session: Session, order: Order) -> None:
    """409 ``group_not_formed`` while the order's group is not full: its goods wait for the group."""
    if order.group_buy_id is None:
        return
    status = session.scalar(select(GroupBuy.status).where(GroupBuy.id == order.group_buy_id))
    if status != "formed":
        raise conflict("group_not_formed", f"order {order.id} waits for group {order.group_buy_id} to fill ({status})")


def give_seat_back(session: Session, order: Order, now: datetime) -> None:
    """A cancelled order leaves its group while the group is still forming."""
    if order.group_buy_id is None:
        return
    session.execute(update(GroupBuy).where(GroupBuy.id == order.group_buy_id, GroupBuy.status == "forming",
                                           GroupBuy.members > 0)
                    .values(members=GroupBuy.members - 1, updated_at=now))


def fail_expired(session: Session, now: datetime, cancel: Callable[[Order, str], None]) -> int:
    """Fail every group still forming at its deadline and cancel its orders (``cancel(order, reason)``
    releases their stock and refunds what was paid); returns the groups failed."""
    failed = session.scalars(select(GroupBuy).where(GroupBuy.status == "forming", GroupBuy.deadline <= now)
                             .with_for_update()).all()
    for group in failed:
        group.status, group.updated_at = "failed", now
        for order in session.scalars(select(Order).where(Order.group_buy_id == group.id,
                                                         Order.status != "cancelled").with_for_update()):
            cancel(order, f"group {group.id} did not fill its {group.size} places in time")
    return len(failed)


def group_dict(group: GroupBuy, deal: GroupDeal) -> dict:
    return {"id": group.id, "deal_id": deal.id, "sku": deal.sku, "group_price": deal.group_price,
            "size": group.size, "members": group.members, "places_left": group.size - group.members,
            "status": group.status, "deadline": iso(group.deadline), "leader_id": group.leader_id}
