"""Loyalty and marketing: tiers, a member's points and coupons, coupon definitions, campaigns.

Marketers define coupons and campaigns and launch them at an audience; shoppers see only their own
points and coupons; store staff see those of their store's members; the back office runs the
loyalty jobs (also run hourly by the API's sweeper).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commerce_api import campaigns, coupons, loyalty, rewards
from commerce_api import responses as R
from commerce_api.auth import Principal
from commerce_api.clock import as_utc, iso, utcnow
from commerce_api.db import transaction
from commerce_api.deps import Caller, Ident, Paging, Strict, Svc, Text200, paginate
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.routes.catalogue import WindowIn, running
from commerce_api.routes.insights import segment_audience
from commerce_api.schema import (
    Campaign,
    CampaignMember,
    Coupon,
    CouponDefinition,
    Customer,
    Order,
    PointsEntry,
    PointsReward,
    Sku,
    TierRule,
)

router = APIRouter(tags=["loyalty and marketing"])
RowId = Annotated[int, Path(ge=1, le=2**62)]
ChannelList = list[Ident] | None


class RuleIn(Strict):
    """A price rule: ``spend_save`` with ``thresholds`` [[spend, save], ...] (tiered 满减),
    ``percent_off`` / ``amount_off`` with ``value``; over ``skus`` / ``categories`` (default: all)."""

    kind: Literal["spend_save", "percent_off", "amount_off"]
    value: int = Field(0, ge=0, le=10**12)
    thresholds: list[Annotated[list[Annotated[int, Field(ge=0, le=10**12)]], Field(min_length=2, max_length=2)]] = (
        Field(default_factory=list, max_length=20, description="[[spend, save], ...] in minor units"))
    min_spend: int = Field(0, ge=0, le=10**12)
    min_quantity: int = Field(0, ge=0, le=100_000, description="units of eligible items the order must hold")
    max_discount: int | None = Field(None, ge=1, le=10**12)
    skus: list[Ident] | None = Field(None, max_length=1000)
    categories: list[Text200] | None = Field(None, max_length=200)
    channels: ChannelList = Field(None, max_length=20, description="campaigns: only in these channels")
    stores: list[Ident] | None = Field(None, max_length=1000, description="campaigns: only at these stores")

    def stored(self) -> dict:
        return coupons.check_rule(self.model_dump(exclude_none=True, exclude_defaults=True) | {"kind": self.kind})


class CouponDefinitionIn(WindowIn):
    code: Ident | None = Field(None, description="a code anyone may type; none: handed to members by campaigns")
    name: Text200
    rule: RuleIn
    channels: ChannelList = Field(None, max_length=20)
    stores: list[Ident] | None = Field(None, max_length=1000)
    usage_limit: int | None = Field(None, ge=1, le=10**12, description="uses in all")
    per_customer_limit: int | None = Field(1, ge=1, le=10**6, description="uses per member (none: guests too)")
    stacks_with_campaigns: bool = True
    staff_only: bool = Field(False, description="applied only by store staff at their till (a manager's discretion)")


class AudienceIn(Strict):
    segment: Ident | None = Field(None, description="a saved segment of the published member profile")
    uploaded_list: bool = Field(False, description="true: the list of member ids comes with the launch")

    @model_validator(mode="after")
    def _one(self):  # noqa: ANN202
        if (self.segment is not None) != self.uploaded_list:
            return self
        raise ValueError("give a segment or uploaded_list: true")


class CampaignIn(WindowIn):
    name: Text200
    kind: Literal["spend_save", "percent_off", "amount_off", "coupon"]
    rule: RuleIn | None = Field(None, description="the price rule (all kinds but coupon)")
    coupon_definition_id: int | None = Field(None, ge=1, le=2**62, description="the coupon (kind coupon)")
    audience: AudienceIn | None = Field(None, description="none: everyone")
    control_percent: int = Field(0, ge=0, le=90, description="share of the audience held out, at random")


# ------------------------------------------------------------------------------ shapes
def tier_dict(t: TierRule) -> dict:
    return {k: getattr(t, k) for k in ("tier", "rank", "min_spend", "discount_percent", "points_percent",
                                       "birthday_coupon", "free_shipping_threshold", "return_limit_factor")}


def uses(session: Session, d: CouponDefinition) -> int:
    """Uses so far: the counter of a definition with a total limit; else counted from the orders
    (``coupons.claim`` keeps no counter for an unlimited one)."""
    if d.usage_limit is not None:
        return d.used
    return session.scalar(select(func.count()).select_from(Order).where(Order.coupon_definition_id == d.id,
                                                                        Order.status != "cancelled"))


def definition_dict(d: CouponDefinition, used: int | None) -> dict:
    return {"id": d.id, "code": d.code, "name": d.name, "rule": d.rule, "channels": d.channels, "stores": d.stores,
            "starts_at": iso(d.starts_at), "ends_at": iso(d.ends_at), "usage_limit": d.usage_limit, "used": used,
            "per_customer_limit": d.per_customer_limit, "stacks_with_campaigns": d.stacks_with_campaigns,
            "staff_only": d.staff_only}


def campaign_dict(session: Session, c: Campaign) -> dict:
    groups = dict(session.execute(select(CampaignMember.grp, func.count()).where(CampaignMember.campaign_id == c.id)
                                  .group_by(CampaignMember.grp)).all())
    issued = dict(session.execute(select(Coupon.status, func.count()).where(Coupon.campaign_id == c.id)
                                  .group_by(Coupon.status)).all())
    return {"id": c.id, "name": c.name, "kind": c.kind, "rule": c.rule, "starts_at": iso(c.starts_at),
            "ends_at": iso(c.ends_at), "status": c.status, "audience": c.audience,
            "control_percent": c.control_percent, "coupon_definition_id": c.coupon_definition_id,
            "audience_size": c.audience_size, "launched_at": iso(c.launched_at) if c.launched_at else None,
            "groups": {g: int(groups.get(g, 0)) for g in ("treatment", "control")},
            "coupons": {s: int(issued.get(s, 0)) for s in ("issued", "used")}}


def _member(session: Session, who: Principal, customer_id: str) -> Customer:
    """The member, for themself, their home store's staff, marketers, the service role and admins."""
    who.require("shopper", "store_staff", "marketer", "service")
    who.check_customer(customer_id)
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise not_found("customer", customer_id)
    if who.role == "store_staff" and customer.home_store_id != who.store_id:
        raise ApiError(403, "forbidden", f"{customer_id} is not a member of store {who.store_id}")
    return customer


# ------------------------------------------------------------------------------ tiers and points
@router.get("/tiers", response_model=R.Items[R.TierOut])
def list_tiers(who: Caller, svc: Svc) -> dict:
    """The tiers and their benefits, lowest first."""
    with svc.reads() as s:
        return {"items": [tier_dict(t) for t in s.execute(select(TierRule).order_by(TierRule.rank)).scalars()]}


class PointsRewardIn(WindowIn):
    name: Text200
    sku: Ident
    points: int = Field(ge=1, le=10**12, description="points per unit")
    max_quantity: int = Field(1, ge=1, le=100, description="units per order")


@router.post("/points-rewards", status_code=201, response_model=R.PointsRewardOut)
def create_points_reward(body: PointsRewardIn, who: Caller, svc: Svc) -> dict:
    """A SKU members can take for points (积分兑换): ``POST /orders`` with ``reward_id``."""
    who.require("marketer")
    with transaction(svc.sessions) as s:
        if s.get(Sku, body.sku) is None:
            raise not_found("SKU", body.sku)
        r = PointsReward(name=body.name, sku=body.sku, points=body.points, max_quantity=body.max_quantity,
                         starts_at=as_utc(body.starts_at), ends_at=as_utc(body.ends_at), created_at=utcnow())
        s.add(r)
        s.flush()
        return rewards.reward_dict(r)


@router.get("/points-rewards", response_model=R.Paged[R.PointsRewardOut])
def list_points_rewards(who: Caller, svc: Svc, paging: Paging) -> dict:
    """The points rewards running now, fewest points first."""
    now = utcnow()
    with svc.reads() as s:
        return paginate(s, running(PointsReward, now).order_by(PointsReward.points, PointsReward.id), paging,
                        rewards.reward_dict)


@router.get("/customers/{customer_id}/points", response_model=R.PointsOut)
def member_points(customer_id: Ident, who: Caller, svc: Svc, paging: Paging) -> dict:
    """A member's spendable balance, points still pending, and their ledger (newest first)."""
    with svc.reads() as s:
        customer = _member(s, who, customer_id)
        q = select(PointsEntry).where(PointsEntry.customer_id == customer_id).order_by(PointsEntry.id.desc())
        out = paginate(s, q, paging, lambda e: {
            "id": e.id, "delta": e.delta, "kind": e.kind, "reference": e.reference, "remaining": e.remaining,
            "available_at": iso(e.available_at), "expires_at": iso(e.expires_at) if e.expires_at else None,
            "created_at": iso(e.created_at)})
        return {**out, "customer_id": customer_id, "balance": customer.points,
                "pending": loyalty.pending_points(s, customer_id)}


class BehaviourIn(Strict):
    kind: Literal["sign_up", "first_review", "daily_check_in", "referral"]
    reference: Ident | None = Field(None, description="what it is for (a review id, the invitee); check-ins: the day")
    points: int | None = Field(None, ge=1, le=100_000, description="referral: the configured reward")


@router.post("/customers/{customer_id}/points/behaviour", status_code=201, response_model=R.PointsEntryOut)
def reward_behaviour(customer_id: Ident, body: BehaviourIn, who: Caller, svc: Svc) -> dict:
    """Points for what a member did, once per (kind, reference): a shopper checks in for themself
    (once a day); the service role credits sign-ups, reviews and referrals."""
    who.require("shopper", "service")
    who.check_customer(customer_id)
    if who.role == "shopper" and body.kind != "daily_check_in":
        raise ApiError(403, "forbidden", "members check in themselves; other rewards come from the back office")
    now = utcnow()
    if body.kind == "daily_check_in":
        reference = now.date().isoformat()
    elif body.kind == "sign_up":
        reference = "sign_up"
    elif body.reference is None:
        raise ApiError(422, "reference_required", f"{body.kind} needs the reference it is for")
    else:
        reference = body.reference
    points = body.points if body.kind == "referral" and body.points else loyalty.BEHAVIOUR_POINTS.get(body.kind)
    if points is None:
        raise ApiError(422, "points_required", "a referral reward names its points")
    with transaction(svc.sessions) as s:
        if s.get(Customer, customer_id) is None:
            raise not_found("customer", customer_id)
        e = loyalty.credit(s, svc.settings, customer_id, points, body.kind, reference, now)
        return {"id": e.id, "delta": e.delta, "kind": e.kind, "reference": e.reference, "remaining": e.remaining,
                "available_at": iso(e.available_at), "expires_at": iso(e.expires_at), "created_at": iso(e.created_at)}


@router.get("/customers/{customer_id}/coupons", response_model=R.Items[R.MemberCouponOut])
def member_coupons(customer_id: Ident, who: Caller, svc: Svc,
                   status: Literal["issued", "used"] | None = "issued") -> dict:
    """A member's own coupons (default: the ones still to use), newest first."""
    with svc.reads() as s:
        _member(s, who, customer_id)
        q = (select(Coupon, CouponDefinition).join(CouponDefinition, CouponDefinition.id == Coupon.definition_id)
             .where(Coupon.customer_id == customer_id).order_by(Coupon.id.desc()).limit(500))
        if status:
            q = q.where(Coupon.status == status)
        return {"items": [{"id": c.id, "status": c.status, "campaign_id": c.campaign_id, "order_id": c.order_id,
                           "issued_at": iso(c.issued_at), "definition": definition_dict(d, None)}
                          for c, d in s.execute(q).all()]}


@router.post("/loyalty/run", response_model=R.LoyaltyRun)
def run_loyalty(who: Caller, svc: Svc) -> dict:
    """Run the loyalty jobs now: credit points past the return window, expire old points, evaluate
    tiers (downgrades after the grace period), birthday coupons, end finished campaigns."""
    who.require("service")
    now = utcnow()
    with transaction(svc.sessions) as s:
        out = loyalty.run_schedule(s, svc.settings, now)
        return {**out, "campaigns_ended": campaigns.end_finished(s, now)}


# ------------------------------------------------------------------------------ coupons
@router.post("/coupon-definitions", status_code=201, response_model=R.CouponDefinitionOut)
def create_coupon_definition(body: CouponDefinitionIn, who: Caller, svc: Svc) -> dict:
    """Define a coupon: its rule, where and when it applies, and its limits."""
    who.require("marketer")
    with transaction(svc.sessions) as s:
        if body.code and s.execute(select(CouponDefinition.id).where(CouponDefinition.code == body.code)).first():
            raise conflict("code_taken", f"coupon code {body.code} exists")
        d = CouponDefinition(code=body.code, name=body.name, rule=body.rule.stored(), channels=body.channels,
                             stores=body.stores, starts_at=as_utc(body.starts_at), ends_at=as_utc(body.ends_at),
                             usage_limit=body.usage_limit, used=0, per_customer_limit=body.per_customer_limit,
                             stacks_with_campaigns=body.stacks_with_campaigns, staff_only=body.staff_only,
                             created_at=utcnow())
        s.add(d)
        s.flush()
        return definition_dict(d, 0)


@router.get("/coupon-definitions", response_model=R.Paged[R.CouponDefinitionOut])
def list_coupon_definitions(who: Caller, svc: Svc, paging: Paging) -> dict:
    who.require("marketer", "service")
    with svc.reads() as s:
        return paginate(s, select(CouponDefinition).order_by(CouponDefinition.id.desc()), paging,
                        lambda d: definition_dict(d, uses(s, d)))


# ------------------------------------------------------------------------------ campaigns
@router.post("/campaigns", status_code=201, response_model=R.CampaignOut)
def create_campaign(body: CampaignIn, who: Caller, svc: Svc) -> dict:
    """A draft campaign: a price rule or a coupon, for everyone or an audience (a saved segment or an
    uploaded list, resolved at launch), with an optional control group."""
    who.require("marketer")
    if (body.kind == "coupon") != (body.coupon_definition_id is not None) or (body.kind == "coupon") == (
            body.rule is not None):
        raise ApiError(422, "invalid_campaign", "a coupon campaign names coupon_definition_id; the others a rule")
    if body.control_percent and body.audience is None:
        raise ApiError(422, "audience_required", "a control group needs an audience")
    if body.rule is not None and body.rule.kind != body.kind:
        raise ApiError(422, "invalid_campaign", f"the rule's kind must be {body.kind}")
    audience = None
    if body.audience is not None:
        audience = f"segment:{body.audience.segment}" if body.audience.segment else "list"
    now = utcnow()
    with transaction(svc.sessions) as s:
        if body.coupon_definition_id is not None and s.get(CouponDefinition, body.coupon_definition_id) is None:
            raise not_found("coupon definition", body.coupon_definition_id)
        c = Campaign(name=body.name, kind=body.kind, rule=body.rule.stored() if body.rule else {},
                     starts_at=as_utc(body.starts_at), ends_at=as_utc(body.ends_at), status="draft", audience=audience,
                     control_percent=body.control_percent, coupon_definition_id=body.coupon_definition_id,
                     audience_size=0, created_at=now, launched_at=None, updated_at=now)
        s.add(c)
        s.flush()
        return campaign_dict(s, c)


class LaunchIn(Strict):
    members: list[Ident] | None = Field(None, max_length=1_000_000,
                                        description="the uploaded list, for a campaign whose audience is a list")


@router.post("/campaigns/{campaign_id}/launch", response_model=R.LaunchOut)
def launch_campaign(campaign_id: RowId, body: LaunchIn, who: Caller, svc: Svc, response: Response) -> dict:
    """Make a draft live: resolve its audience (the segment on today's published profile, or the
    uploaded list), draw the control group, hand out a coupon campaign's coupons."""
    who.require("marketer")
    with svc.reads() as s:
        c = s.get(Campaign, campaign_id)
        if c is None:
            raise not_found("campaign", campaign_id)
        audience = c.audience
    members = None
    if audience and audience.startswith("segment:"):
        if body.members is not None:
            raise ApiError(422, "invalid_audience", "this campaign's audience is a segment: send no list")
        _, frame = segment_audience(svc, response, audience.removeprefix("segment:"))
        members = frame["customer_id"].to_list()
    elif audience == "list":
        if body.members is None:
            raise ApiError(422, "members_required", "this campaign's audience is an uploaded list: send it")
        members = body.members
    elif body.members is not None:
        raise ApiError(422, "invalid_audience", "this campaign is for everyone: send no list")
    with transaction(svc.sessions) as s:
        c = s.get(Campaign, campaign_id, with_for_update=True)
        out = campaigns.launch(s, c, members, utcnow())
        s.flush()
        return {"campaign": campaign_dict(s, c), **out}


@router.get("/campaigns", response_model=R.Paged[R.CampaignOut])
def list_campaigns(who: Caller, svc: Svc, paging: Paging,
                   status: Literal["draft", "live", "ended"] | None = None) -> dict:
    who.require("marketer", "service")
    with svc.reads() as s:
        q = select(Campaign).order_by(Campaign.id.desc())
        if status:
            q = q.where(Campaign.status == status)
        return paginate(s, q, paging, lambda c: campaign_dict(s, c))


@router.get("/campaigns/{campaign_id}", response_model=R.CampaignOut)
def get_campaign(campaign_id: RowId, who: Caller, svc: Svc) -> dict:
    who.require("marketer", "service")
    with svc.reads() as s:
        c = s.get(Campaign, campaign_id)
        if c is None:
            raise not_found("campaign", campaign_id)
        return campaign_dict(s, c)
