"""Campaigns: a price rule (spend X save Y, percent or amount off) or a coupon, for an audience.

The audience is a saved segment of the published member profile or an uploaded list of member ids;
launching draws an optional control group (``control_percent`` of the audience, at random, recorded
in ``campaign_members``), who get nothing, so the warehouse can measure what the campaign changed.
Members are written in batches and a coupon campaign's coupons by one ``INSERT ... SELECT`` from the
treatment group: 100k members take seconds, not 100k requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import Select, String, bindparam, exists, insert, literal, or_, select
from sqlalchemy.orm import Session

from commerce_api.coupons import rule_of
from commerce_api.db import core
from commerce_api.errors import ApiError, conflict
from commerce_api.schema import Campaign, CampaignMember, Coupon, Customer

PRICE_KINDS = ("spend_save", "percent_off", "amount_off")
BATCH = 10_000


def _known(session: Session, ids: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(ids), BATCH):
        chunk = list(ids[start:start + BATCH])
        known.update(session.execute(select(Customer.id).where(Customer.id.in_(chunk))).scalars())
    return known


def launch(session: Session, campaign: Campaign, members: Sequence[str] | None, now: datetime) -> dict:
    """Make a draft campaign live: record its audience (``members``; None = everyone, no control
    group), draw the control group, issue a coupon campaign's coupons. 422 ``unknown_members`` (with
    the first ids) if the list names members that do not exist: nothing is written then."""
    if campaign.status != "draft":
        raise conflict("not_draft", f"campaign {campaign.id} is {campaign.status}; only a draft is launched")
    if now >= campaign.ends_at:
        raise conflict("campaign_over", f"campaign {campaign.id} ended at {campaign.ends_at:%Y-%m-%d %H:%M} UTC")
    treated = control = 0
    if members is not None:
        ids = sorted(set(members))
        if not ids:
            raise ApiError(422, "empty_audience", "the audience has no members")
        unknown = sorted(set(ids) - _known(session, ids))
        if unknown:
            raise ApiError(422, "unknown_members", f"{len(unknown)} member id(s) do not exist",
                           {"count": len(unknown), "first": unknown[:20]})
        # a draw seeded by the campaign id: the same launch gives the same groups
        in_control = np.random.default_rng(campaign.id).random(len(ids)) * 100 < campaign.control_percent
        control = int(in_control.sum())
        treated = len(ids) - control
        rows = [{"campaign_id": campaign.id, "customer_id": cid, "grp": "control" if c else "treatment",
                 "added_at": now} for cid, c in zip(ids, in_control.tolist(), strict=True)]
        for start in range(0, len(rows), BATCH):
            session.execute(insert(CampaignMember), rows[start:start + BATCH])
    elif campaign.control_percent:
        raise ApiError(422, "audience_required", "a control group needs an audience (a segment or a list)")
    issued = 0
    if campaign.kind == "coupon":
        if members is None:
            raise ApiError(422, "audience_required", "a coupon campaign hands coupons to an audience")
        treatment = select(literal(campaign.coupon_definition_id), CampaignMember.customer_id, literal(campaign.id),
                           literal("issued"), literal(now), literal(now)).where(CampaignMember.campaign_id == campaign.id,
                                                                  CampaignMember.grp == "treatment")
        session.flush()
        issued = len(core(session).execute(insert(Coupon).from_select(  # counted by RETURNING (see loyalty)
            ["definition_id", "customer_id", "campaign_id", "status", "issued_at", "updated_at"], treatment)
            .returning(Coupon.id)).all())
    campaign.status, campaign.launched_at, campaign.updated_at = "live", now, now
    campaign.audience_size = treated + control
    return {"audience": treated + control, "treatment": treated, "control": control, "coupons_issued": issued}


def _running(for_member: bool) -> Select:
    """The live price campaigns at ``:now`` (for everyone, or with ``:customer_id`` treated): built
    once with bind parameters, at checkout building a statement costs more than running it."""
    everyone = Campaign.audience.is_(None)
    member_in = exists().where(CampaignMember.campaign_id == Campaign.id,
                               CampaignMember.customer_id == bindparam("customer_id", type_=String),
                               CampaignMember.grp == "treatment")
    return (select(Campaign.id, Campaign.rule)
            .where(Campaign.status == "live", Campaign.kind.in_(PRICE_KINDS), Campaign.starts_at <= bindparam("now"),
                   Campaign.ends_at > bindparam("now"), or_(everyone, member_in) if for_member else everyone)
            .order_by(Campaign.id))


_RUNNING = {True: _running(True), False: _running(False)}


def running_rules(session: Session, customer_id: str | None, channel: str, store_id: str | None,
                  now: datetime) -> list:
    """The ``discounts.Rule`` of every live price campaign running at ``now`` that this buyer may have:
    for everyone, or with the member in its treatment group; in its channels and stores if it names
    them. Ordered by campaign id (``calculate`` keeps the first of equal savings)."""
    rows = core(session).execute(_RUNNING[customer_id is not None],
                                 {"customer_id": customer_id, "now": now}).all()
    out = []
    for campaign_id, rule in rows:
        if rule.get("channels") and channel not in rule["channels"]:
            continue
        if rule.get("stores") and store_id not in rule["stores"]:
            continue
        out.append(rule_of(f"campaign:{campaign_id}", rule))
    return out


def end_finished(session: Session, now: datetime) -> int:
    """Mark live campaigns past their end as ended."""
    finished = session.execute(select(Campaign).where(Campaign.status == "live", Campaign.ends_at <= now)).scalars()
    count = 0
    for campaign in finished:
        campaign.status, campaign.updated_at = "ended", now
        count += 1
    return count
