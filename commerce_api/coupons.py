"""Coupons (Saleor's vouchers): a definition holds the rule and the limits; a code anyone may type, or
member-bound coupons handed out by a campaign or a birthday.

Limits hold under concurrency because each is taken by one conditional statement, never a read then a
write: the total by ``UPDATE ... SET used = used + 1 WHERE used < usage_limit``, the per-member limit by
an upsert that only adds while under the limit, a member-bound coupon by ``UPDATE ... WHERE status =
'issued'``. A cancelled order gives its use back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from commerce_api.db import dialect_insert
from commerce_api.discounts import RULE_KINDS, Rule
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.schema import Coupon, CouponDefinition, CouponUse, Order


def rule_of(source: str, rule: dict) -> Rule:
    """A ``discounts.Rule`` from a campaign's or coupon's stored rule (validated on the way in)."""
    return Rule(source=source, kind=rule["kind"], value=int(rule.get("value", 0)),
                thresholds=tuple((int(s), int(v)) for s, v in rule.get("thresholds", ())),
                min_spend=int(rule.get("min_spend", 0)), min_quantity=int(rule.get("min_quantity", 0)),
                max_discount=rule.get("max_discount"),
                skus=frozenset(rule["skus"]) if rule.get("skus") else None,
                categories=frozenset(rule["categories"]) if rule.get("categories") else None)


def check_rule(rule: dict) -> dict:
    """422 ``invalid_rule`` unless ``rule`` is a rule ``rule_of`` can read and that can save something."""
    kind = rule.get("kind")
    problem = None
    if kind not in RULE_KINDS:
        problem = f"kind is one of {', '.join(RULE_KINDS)}"
    elif kind == "spend_save":
        steps = rule.get("thresholds") or []
        if not steps or any(not (0 < save <= spend) for spend, save in steps):
            problem = "spend_save needs thresholds [[spend, save], ...] with 0 < save <= spend"
    elif kind == "percent_off" and not 0 < rule.get("value", 0) <= 100:
        problem = "percent_off needs a value from 1 to 100"
    elif kind == "amount_off" and not rule.get("value", 0) > 0:
        problem = "amount_off needs a positive value (minor units)"
    if problem:
        raise ApiError(422, "invalid_rule", problem, {"rule": rule})
    return rule


@dataclass(frozen=True)
class Definition:
    """A coupon definition as checkout reads it: every column but the running ``used`` counter
    (taken by a conditional UPDATE in ``claim``). Definitions are not edited once made, so each
    API worker keeps them for ``_CACHE_SECONDS`` rather than reading one per checkout."""

    id: int
    code: str | None
    name: str
    rule: dict
    channels: list | None
    stores: list | None
    starts_at: datetime
    ends_at: datetime
    usage_limit: int | None
    per_customer_limit: int | None
    stacks_with_campaigns: bool
    staff_only: bool


_CACHE_SECONDS = 30.0
_cache: dict[object, tuple[float, Definition]] = {}
_FIELDS = tuple(Definition.__dataclass_fields__)


def _definition(session: Session, *, code: str | None = None, definition_id: int | None = None) -> Definition | None:
    """The definition of ``code`` or ``definition_id``, from this worker's cache when fresh."""
    key = (session.get_bind().url, "code" if code is not None else "id", code if code is not None else definition_id)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    q = select(*(getattr(CouponDefinition, f) for f in _FIELDS))
    row = session.execute(q.where(CouponDefinition.code == code) if code is not None
                          else q.where(CouponDefinition.id == definition_id)).first()
    if row is None:
        return None
    found = Definition(*row)
    if len(_cache) > 10_000:  # codes typed at random must not grow it without bound
        _cache.clear()
    _cache[key] = (now, found)
    return found


@dataclass(frozen=True)
class Chosen:
    """The coupon an order asks for: its definition, the member's coupon when member-bound, the rule."""

    definition: Definition
    coupon: Coupon | None
    rule: Rule


def choose(session: Session, *, code: str | None, coupon_id: int | None, customer_id: str | None,
           channel: str, store_id: str | None, now: datetime, by_staff: bool = False) -> Chosen | None:
    """The coupon of an order, checked: it exists, is the member's own, is valid now and here, and
    staff apply it when it is staff-only (``by_staff``: store staff place the order at their till).
    (Whether it saves anything on these lines is ``discounts.calculate``'s to say.)"""
    if code is None and coupon_id is None:
        return None
    if code is not None and coupon_id is not None:
        raise ApiError(422, "one_coupon", "send a coupon_code or a coupon_id, not both")
    coupon = None
    if coupon_id is not None:
        coupon = session.get(Coupon, coupon_id)
        if coupon is None or coupon.customer_id != customer_id:
            raise not_found("coupon", coupon_id)  # another member's coupon is not theirs to see
        if coupon.status != "issued":
            raise conflict("coupon_used", f"coupon {coupon_id} was used on order {coupon.order_id}")
        definition = _definition(session, definition_id=coupon.definition_id)
    else:
        definition = _definition(session, code=code)
        if definition is None:
            raise not_found("coupon code", code)
    if not definition.starts_at <= now < definition.ends_at:
        raise conflict("coupon_not_valid_now", f"{definition.name} is valid from {definition.starts_at:%Y-%m-%d %H:%M}"
                       f" to {definition.ends_at:%Y-%m-%d %H:%M} (UTC)")
    if definition.channels is not None and channel not in definition.channels:
        raise ApiError(422, "coupon_not_applicable", f"{definition.name} is not for channel {channel}")
    if definition.stores is not None and store_id not in definition.stores:
        raise ApiError(422, "coupon_not_applicable", f"{definition.name} is not for this store")
    if definition.staff_only and not by_staff:
        raise ApiError(422, "coupon_not_applicable", f"{definition.name} is applied by store staff at the till")
    if definition.per_customer_limit is not None and customer_id is None:
        raise ApiError(422, "member_required", f"{definition.name} is for members: sign in")
    return Chosen(definition, coupon, rule_of(f"coupon:{definition.id}", definition.rule))


def claim(session: Session, chosen: Chosen, customer_id: str | None, order_id: str, now: datetime) -> None:
    """Count one use against every limit, or 409 and nothing counted (the transaction rolls back)."""
    d = chosen.definition
    # only a total limit needs the shared counter: one row every checkout updates would serialise all
    # checkouts with the coupon on its lock (an unlimited coupon's uses are counted from the orders)
    if d.usage_limit is not None:
        taken = session.execute(update(CouponDefinition).where(
            CouponDefinition.id == d.id, CouponDefinition.used < CouponDefinition.usage_limit)
            .values(used=CouponDefinition.used + 1).returning(CouponDefinition.used)).first()
        if taken is None:
            raise conflict("coupon_exhausted", f"{d.name} has been used its {d.usage_limit} times")
    if d.per_customer_limit is not None:
        stmt = dialect_insert(session, CouponUse).values(definition_id=d.id, customer_id=customer_id, uses=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["definition_id", "customer_id"], set_={"uses": CouponUse.uses + 1},
            where=CouponUse.uses < d.per_customer_limit).returning(CouponUse.uses)
        if d.per_customer_limit < 1 or session.execute(stmt).first() is None:
            raise conflict("coupon_limit_reached", f"{d.name}: at most {d.per_customer_limit} per member")
    if chosen.coupon is not None:
        used = session.execute(update(Coupon).where(Coupon.id == chosen.coupon.id, Coupon.status == "issued")
                               .values(status="used", order_id=order_id, used_at=now, updated_at=now).returning(Coupon.id)).first()
        if used is None:
            raise conflict("coupon_used", f"coupon {chosen.coupon.id} was used already")


def give_back(session: Session, order: Order, now: datetime) -> None:
    """Undo the coupon use of a cancelled order."""
    if order.coupon_definition_id is None:
        return
    session.execute(update(CouponDefinition).where(CouponDefinition.id == order.coupon_definition_id,
                                                   CouponDefinition.usage_limit.is_not(None), CouponDefinition.used > 0)
                    .values(used=CouponDefinition.used - 1))
    if order.customer_id:
        session.execute(update(CouponUse).where(CouponUse.definition_id == order.coupon_definition_id,
                                                CouponUse.customer_id == order.customer_id, CouponUse.uses > 0)
                        .values(uses=CouponUse.uses - 1))
    if order.coupon_id is not None:
        session.execute(update(Coupon).where(Coupon.id == order.coupon_id, Coupon.order_id == order.id)
                        .values(status="issued", order_id=None, used_at=None, updated_at=now))
