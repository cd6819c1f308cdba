"""Bargains (砍价): a member starts a bargain on a deal's SKU at its list price and shares it; each
friend who helps cuts a random amount between the deal's ``min_cut`` and ``max_cut`` off the price,
never below its ``floor_price``, until the bargain's deadline. The member buys one unit at the price
reached (``POST /orders`` with ``bargain_id``) any time before the deadline.

Cuts hold under concurrency: a help locks its bargain's row, so two friends' cuts never both read
the same price, and a friend helps a bargain once (the primary key of ``bargain_helps``). A friend
is another member, not the owner and not a member with the owner's verified phone. A cut is drawn
from a generator seeded by the bargain and the friend, so a retried help draws the same cut.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from commerce_api.clock import iso
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.schema import Bargain, BargainDeal, BargainHelp, Customer, Order, Sku


def _live_deal(session: Session, deal_id: int, now: datetime) -> BargainDeal:
    deal = session.get(BargainDeal, deal_id)
    if deal is None:
        raise not_found("bargain deal", str(deal_id))
    if not deal.starts_at <= now < deal.ends_at:
        raise conflict("deal_not_live", f"{deal.name} runs from {deal.starts_at:%Y-%m-%d %H:%M} "
                                        f"to {deal.ends_at:%Y-%m-%d %H:%M}")
    return deal


def start(session: Session, deal_id: int, customer_id: str, now: datetime) -> Bargain:
    """A new bargain of ``customer_id`` on the deal, at the SKU's list price; 409 while the member
    has one open on this deal that has not run out."""
    deal = _live_deal(session, deal_id, now)
    running = session.scalar(select(Bargain.id).where(Bargain.deal_id == deal_id, Bargain.customer_id == customer_id,
                                                      Bargain.status == "open", Bargain.deadline > now).limit(1))
    if running is not None:
        raise conflict("bargain_open", f"you have bargain {running} open on this deal", {"bargain_id": running})
    price = session.scalar(select(Sku.list_price).where(Sku.sku == deal.sku))
    if price <= deal.floor_price:
        raise conflict("nothing_to_cut", f"{deal.sku} costs {price}, not above the floor {deal.floor_price}")
    bargain = Bargain(deal_id=deal.id, customer_id=customer_id, start_price=price, price=price, helpers=0,
                      status="open", order_id=None, deadline=min(now + timedelta(hours=deal.hours_to_finish),
                                                                 deal.ends_at),
                      created_at=now, updated_at=now)
    session.add(bargain)
    session.flush()
    return bargain


def help_cut(session: Session, bargain_id: int, helper_id: str, now: datetime) -> BargainHelp:
    """A friend's cut of the bargain (minor units), or 409: the bargain is bought, past its deadline or
    at its floor; the friend helped it already; 422: the friend is the owner or shares their phone."""
    bargain = session.get(Bargain, bargain_id, with_for_update=True)
    if bargain is None:
        raise not_found("bargain", str(bargain_id))
    deal = session.get(BargainDeal, bargain.deal_id)
    helper = session.get(Customer, helper_id)
    if helper is None:
        raise not_found("customer", helper_id)
    owner = session.get(Customer, bargain.customer_id)
    if helper_id == owner.id or (owner.phone and helper.phone == owner.phone) or helper.merged_into == owner.id:
        raise ApiError(422, "self_help", "a bargain is cut by friends, not by its owner")
    if bargain.status != "open" or bargain.deadline <= now:
        raise conflict("bargain_closed", f"bargain {bargain_id} is {'bought' if bargain.status == 'used' else 'over'}")
    if session.get(BargainHelp, (bargain_id, helper_id)) is not None:
        raise conflict("already_helped", f"you have cut bargain {bargain_id} already")
    room = bargain.price - deal.floor_price
    if room <= 0:
        raise conflict("at_floor", f"bargain {bargain_id} is at its floor price {deal.floor_price}")
    cut = min(random.Random(f"{bargain_id}:{helper_id}").randint(deal.min_cut, deal.max_cut), room)
    help_row = BargainHelp(bargain_id=bargain_id, helper_id=helper_id, cut=cut, created_at=now)
    session.add(help_row)
    bargain.price, bargain.helpers, bargain.updated_at = bargain.price - cut, bargain.helpers + 1, now
    session.flush()
    return help_row


def check(session: Session, bargain_id: int, customer_id: str | None, wanted: dict[str, int],
          now: datetime) -> tuple[Bargain, BargainDeal]:
    """The bargain an order buys, checked: the member's own, open, in time, one unit of its SKU alone."""
    bargain = session.get(Bargain, bargain_id)
    if bargain is None or bargain.customer_id != customer_id:
        raise not_found("bargain", str(bargain_id))  # another member's bargain is not theirs to buy
    if bargain.status != "open" or bargain.deadline <= now:
        raise conflict("bargain_closed", f"bargain {bargain_id} is {'bought' if bargain.status == 'used' else 'over'}")
    deal = session.get(BargainDeal, bargain.deal_id)
    if wanted != {deal.sku: 1}:
        raise ApiError(422, "not_in_deal", f"a bargain buys one {deal.sku} alone")
    return bargain, deal


def claim(session: Session, bargain_id: int, order_id: str, now: datetime) -> None:
    """The order takes the bargain (once: a conditional update), or 409."""
    taken = session.execute(update(Bargain).where(Bargain.id == bargain_id, Bargain.status == "open")
                            .values(status="used", order_id=order_id, updated_at=now).returning(Bargain.id)).first()
    if taken is None:
        raise conflict("bargain_closed", f"bargain {bargain_id} is bought already")


def give_back(session: Session, order: Order, now: datetime) -> None:
    """A cancelled order's bargain can be bought again until its deadline."""
    if order.bargain_id is not None:
        session.execute(update(Bargain).where(Bargain.id == order.bargain_id, Bargain.order_id == order.id)
                        .values(status="open", order_id=None, updated_at=now))


def bargain_dict(b: Bargain, deal: BargainDeal, now: datetime) -> dict:
    status = b.status if b.status == "used" or b.deadline > now else "expired"
    return {"id": b.id, "deal_id": deal.id, "sku": deal.sku, "customer_id": b.customer_id,
            "start_price": b.start_price, "price": b.price, "floor_price": deal.floor_price, "helpers": b.helpers,
            "status": status, "order_id": b.order_id, "deadline": iso(b.deadline)}
