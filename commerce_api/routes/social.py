"""Social commerce: group buys (拼团), bargains (砍价) and referrals.

Marketers define group deals; shoppers open a group or join one by placing an order with
``group_buy`` (``POST /orders``), and browse the groups still forming. Members share an invite code;
a new member names the code that brought them, and both are rewarded once the newcomer's first
order completes (the loyalty job), never for referring themselves. Marketers define bargain deals;
a member starts a bargain, friends cut its price, and the member buys it with ``bargain_id``.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from commerce_api import bargains
from commerce_api import responses as R
from commerce_api.auth import Principal
from commerce_api.clock import as_utc, iso, utcnow
from commerce_api.db import transaction
from commerce_api.deps import Caller, Ident, Paging, Strict, Svc, Text200, paginate
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.group_buys import group_dict
from commerce_api.routes.catalogue import WindowIn, running
from commerce_api.schema import Bargain, BargainDeal, Customer, GroupBuy, GroupDeal, Order, Referral, Sku

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


class BargainDealIn(WindowIn):
    name: Text200
    sku: Ident
    floor_price: int = Field(ge=1, le=10**12, description="minor units: the lowest price friends can reach")
    min_cut: int = Field(ge=1, le=10**12, description="minor units: the least one friend's help cuts")
    max_cut: int = Field(ge=1, le=10**12, description="minor units: the most one friend's help cuts")
    hours_to_finish: int = Field(24, ge=1, le=720, description="a bargain runs this long after it starts")


class BargainStartIn(Strict):
    deal_id: int = Field(ge=1, le=2**62)
    customer_id: Ident | None = Field(None, description="the member (a shopper: themself, the default)")


class BargainHelpIn(Strict):
    helper_id: Ident | None = Field(None, description="the friend who helps (a shopper: themself, the default)")


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
        return paginate(s, running(GroupDeal, now).order_by(GroupDeal.id.desc()), paging, deal_dict)


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


# ------------------------------------------------------------------------------ bargains
def bargain_deal_dict(d: BargainDeal) -> dict:
    return {"id": d.id, "name": d.name, "sku": d.sku, "floor_price": d.floor_price, "min_cut": d.min_cut,
            "max_cut": d.max_cut, "hours_to_finish": d.hours_to_finish, "starts_at": iso(d.starts_at),
            "ends_at": iso(d.ends_at)}


@router.post("/bargain-deals", status_code=201, response_model=R.BargainDealOut)
def create_bargain_deal(body: BargainDealIn, who: Caller, svc: Svc) -> dict:
    """A bargain deal: friends cut a SKU's price by random amounts within bounds, down to a floor."""
    who.require("marketer")
    if body.max_cut < body.min_cut:
        raise ApiError(422, "invalid_cuts", "max_cut must be at least min_cut")
    with transaction(svc.sessions) as s:
        sku = s.get(Sku, body.sku)
        if sku is None:
            raise not_found("SKU", body.sku)
        if body.floor_price >= sku.list_price:
            raise ApiError(422, "invalid_floor", f"the floor must be below the list price {sku.list_price}")
        d = BargainDeal(name=body.name, sku=body.sku, floor_price=body.floor_price, min_cut=body.min_cut,
                        max_cut=body.max_cut, hours_to_finish=body.hours_to_finish, starts_at=as_utc(body.starts_at),
                        ends_at=as_utc(body.ends_at), created_at=utcnow())
        s.add(d)
        s.flush()
        return bargain_deal_dict(d)


@router.get("/bargain-deals", response_model=R.Paged[R.BargainDealOut])
def list_bargain_deals(who: Caller, svc: Svc, paging: Paging) -> dict:
    """The bargain deals running now, newest first."""
    now = utcnow()
    with svc.reads() as s:
        return paginate(s, running(BargainDeal, now).order_by(BargainDeal.id.desc()), paging, bargain_deal_dict)


def _acting_member(who: Principal, customer_id: str | None) -> str:
    """The member a shopper (themself) or the app's back end (``service``: named) acts for."""
    who.require("shopper", "service")
    if who.role == "shopper":
        who.check_customer(customer_id or who.customer_id)
        return who.customer_id
    if customer_id is None:
        raise ApiError(422, "customer_required", "name the member this is for")
    return customer_id


@router.post("/bargains", status_code=201, response_model=R.BargainOut)
def start_bargain(body: BargainStartIn, who: Caller, svc: Svc) -> dict:
    """Start a bargain on a deal (a shopper for themself) and share its id with friends."""
    member = _acting_member(who, body.customer_id)
    now = utcnow()
    with transaction(svc.sessions) as s:
        if s.get(Customer, member) is None:
            raise not_found("customer", member)
        b = bargains.start(s, body.deal_id, member, now)
        return bargains.bargain_dict(b, s.get(BargainDeal, b.deal_id), now)


@router.get("/bargains/{bargain_id}", response_model=R.BargainOut)
def get_bargain(bargain_id: RowId, who: Caller, svc: Svc) -> dict:
    """A bargain's price so far: for its owner, the friends asked to help, and the back office."""
    with svc.reads() as s:
        b = s.get(Bargain, bargain_id)
        if b is None:
            raise not_found("bargain", str(bargain_id))
        return bargains.bargain_dict(b, s.get(BargainDeal, b.deal_id), utcnow())


@router.post("/bargains/{bargain_id}/help", status_code=201, response_model=R.BargainHelpOut)
def help_bargain(bargain_id: RowId, body: BargainHelpIn, who: Caller, svc: Svc) -> dict:
    """A friend (another member) cuts the bargain's price: once each, never below the floor."""
    helper = _acting_member(who, body.helper_id)
    now = utcnow()
    with transaction(svc.sessions) as s:
        cut = bargains.help_cut(s, bargain_id, helper, now)
        b = s.get(Bargain, bargain_id)
        return {"bargain": bargains.bargain_dict(b, s.get(BargainDeal, b.deal_id), now), "cut": cut.cut}


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
