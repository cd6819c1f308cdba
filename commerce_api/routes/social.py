"""Social commerce: group buys (拼团) and referrals.

Marketers define group deals; shoppers open a group or join one by placing an order with
``group_buy`` (``POST /orders``), and browse the groups still forming. Members share an invite code;
a new member names the code that brought them, and both are rewarded once the newcomer's first
order completes (the loyalty job), never for referring themselves.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from commerce_api import responses as R
from commerce_api.clock import as_utc, iso, utcnow
from commerce_api.db import transaction
from commerce_api.deps import Caller, Ident, Paging, Strict, Svc, Text200, paginate
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.group_buys import group_dict
from commerce_api.routes.catalogue import WindowIn
from commerce_api.schema import Customer, GroupBuy, GroupDeal, Order, Referral, Sku

router = APIRouter(tags=["group buys and referrals"])
RowId = Annotated[int, Path(ge=1, le=2**62)]
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a till


class GroupDealIn(WindowIn):
    name: Text200
    sku: Ident
    group_price: int = Field(ge=1, le=10**12, description="minor units, per unit")
    group_size: int = Field(ge=2, le=100)
    hours_to_form: int = Field(ge=1, le=720, description="a group fails if not full this long after it opened")
    max_quantity: int = Field(1, ge=1, le=100, description="units per member")


class ReferralIn(Strict):
    code: Annotated[str, Field(pattern=r"^[A-Z0-9]{8}$")]
    device_id: Annotated[str, Field(min_length=8, max_length=128)] | None = Field(
        None, description="the app's device id: one device is referred once")


def deal_dict(d: GroupDeal) -> dict:
    return {"id": d.id, "name": d.name, "sku": d.sku, "group_price": d.group_price, "group_size": d.group_size,
            "hours_to_form": d.hours_to_form, "max_quantity": d.max_quantity, "starts_at": iso(d.starts_at),
            "ends_at": iso(d.ends_at)}


# ------------------------------------------------------------------------------ group buys
@router.post("/group-deals", status_code=201, response_model=R.GroupDealOut)
def create_group_deal(body: GroupDealIn, who: Caller, svc: Svc) -> dict:
    """A group-buy deal: a SKU at a group price for groups of a size that form in time."""
    who.require("marketer")
    with transaction(svc.sessions) as s:
        if s.get(Sku, body.sku) is None:
            raise not_found("SKU", body.sku)
        d = GroupDeal(name=body.name, sku=body.sku, group_price=body.group_price, group_size=body.group_size,
                      hours_to_form=body.hours_to_form, max_quantity=body.max_quantity,
                      starts_at=as_utc(body.starts_at), ends_at=as_utc(body.ends_at), created_at=utcnow())
        s.add(d)
        s.flush()
        return deal_dict(d)


@router.get("/group-deals", response_model=R.Paged[R.GroupDealOut])
def list_group_deals(who: Caller, svc: Svc, paging: Paging) -> dict:
    """The deals running now, newest first."""
    now = utcnow()
    with svc.reads() as s:
        return paginate(s, select(GroupDeal).where(GroupDeal.starts_at <= now, GroupDeal.ends_at > now)
                        .order_by(GroupDeal.id.desc()), paging, deal_dict)


@router.get("/group-deals/{deal_id}/groups", response_model=R.Paged[R.GroupBuyOut])
def forming_groups(deal_id: RowId, who: Caller, svc: Svc, paging: Paging) -> dict:
    """The deal's groups still forming, closest to full first: the ones to join."""
    with svc.reads() as s:
        deal = s.get(GroupDeal, deal_id)
        if deal is None:
            raise not_found("group deal", str(deal_id))
        q = (select(GroupBuy).where(GroupBuy.deal_id == deal_id, GroupBuy.status == "forming",
                                    GroupBuy.deadline > utcnow())
             .order_by((GroupBuy.size - GroupBuy.members), GroupBuy.deadline, GroupBuy.id))
        return paginate(s, q, paging, lambda g: group_dict(g, deal))


@router.get("/groups/{group_id}", response_model=R.GroupBuyOut)
def get_group(group_id: RowId, who: Caller, svc: Svc) -> dict:
    with svc.reads() as s:
        group = s.get(GroupBuy, group_id)
        if group is None:
            raise not_found("group", str(group_id))
        return group_dict(group, s.get(GroupDeal, group.deal_id))


# ------------------------------------------------------------------------------ referrals
def _own(s, who, customer_id: str) -> Customer:
    who.require("shopper", "service")
    who.check_customer(customer_id)
    customer = s.get(Customer, customer_id)
    if customer is None:
        raise not_found("customer", customer_id)
    return customer


@router.get("/customers/{customer_id}/invite-code", response_model=R.InviteCode)
def invite_code(customer_id: Ident, who: Caller, svc: Svc) -> dict:
    """The member's invite code (made on first ask) and how many it brought, rewarded or not yet."""
    with transaction(svc.sessions) as s:
        customer = _own(s, who, customer_id)
        while customer.invite_code is None:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
            if s.scalar(select(Customer.id).where(Customer.invite_code == code)) is None:
                customer.invite_code = code
        counts = dict(s.execute(select(Referral.status, func.count()).where(Referral.referrer_id == customer_id)
                                .group_by(Referral.status)).all())
        return {"customer_id": customer_id, "code": customer.invite_code, "rewarded": counts.get("rewarded", 0),
                "pending": counts.get("pending", 0)}


@router.post("/customers/{customer_id}/referral", status_code=201, response_model=R.ReferralOut)
def record_referral(customer_id: Ident, body: ReferralIn, who: Caller, svc: Svc) -> dict:
    """A new member names the invite code that brought them (before their first order completes).
    Refused: their own code, a referrer with the same phone, a device already referred."""
    now = utcnow()
    with transaction(svc.sessions) as s:
        invitee = _own(s, who, customer_id)
        referrer = s.scalar(select(Customer).where(Customer.invite_code == body.code))
        if referrer is None:
            raise not_found("invite code", body.code)
        if referrer.id == invitee.id or (referrer.phone and referrer.phone == invitee.phone):
            raise ApiError(422, "self_referral", "a member cannot refer themself")
        if s.get(Referral, invitee.id) is not None:
            raise conflict("already_referred", f"{invitee.id} was referred already")
        if s.scalar(select(exists().where(Order.customer_id == invitee.id,
                                          Order.status.in_(("completed", "returned"))))):
            raise conflict("not_new", f"{invitee.id} has bought already: referrals are for new members")
        referral = Referral(invitee_id=invitee.id, referrer_id=referrer.id, device_id=body.device_id,
                            status="pending", created_at=now, rewarded_at=None)
        s.add(referral)
        try:
            s.flush()
        except IntegrityError:
            raise conflict("device_referred", "this device was referred already") from None
        return {"invitee_id": invitee.id, "referrer_id": referrer.id, "status": "pending", "created_at": iso(now)}
