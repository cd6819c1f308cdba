"""Points and tiers (Open Loyalty's ledger and tier rules).

Points live in ``points_ledger``, append-only in its amounts. A completed purchase earns one point per
yuan paid and not refunded (``POINTS_PER_UNIT`` minor units) times the member's tier's
``points_percent``; the points are pending until the return window closes and then credited by the
scheduled ``mature`` (set-based), so returns inside the window need no reversal. Behaviour (sign-up,
first review, daily check-in, referral) counts at once. Redemptions, late reversals and expiries take
from the oldest spendable entries first (FIFO by the date they became spendable). ``customers.points``
is the spendable balance: the sum of the ledger, never negative (a CHECK constraint), kept in the same
transaction as the entries.

Tiers: qualifying spend = paid less refunded, of completed orders, in the last 365 days. A member
moves up at once when an order completes above a threshold; moves down only in the scheduled
evaluation (``evaluate_tiers`` with a grace period), not before ``tier_grace_days`` in their tier.
"""

from __future__ import annotations

import calendar
import functools
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Update, bindparam, exists, extract, func, insert, literal, select, update
from sqlalchemy.orm import Session

from commerce_api.db import core, driver_rows, on_postgresql
from commerce_api.errors import ApiError, conflict
from commerce_api.schema import Coupon, CouponDefinition, Customer, Order, PointsEntry, Referral, TierRule
from data.settings import Settings

POINTS_PER_UNIT = 100  # one point per 100 minor units (one yuan) paid
BEHAVIOUR_POINTS = {"sign_up": 100, "first_review": 50, "daily_check_in": 5}
SPEND_DAYS = 365
EARNED = ("completed", "returned")


def _post(session: Session, customer_id: str, delta: int, now: datetime) -> None:
    """Move the cached balance by ``delta`` (the CHECK constraint refuses a negative balance)."""
    session.execute(update(Customer).where(Customer.id == customer_id)
                    .values(points=Customer.points + delta, updated_at=now))


def credit(session: Session, settings: Settings, customer_id: str, points: int, kind: str, reference: str,
           now: datetime) -> PointsEntry:
    """Add points spendable now. ``(kind, reference)`` is unique per member, so the same reward is
    never given twice (409 ``already_credited``)."""
    if points <= 0:
        raise ApiError(422, "invalid_points", "points to credit must be positive")
    exists = session.execute(select(PointsEntry.id).where(
        PointsEntry.customer_id == customer_id, PointsEntry.kind == kind, PointsEntry.reference == reference)).first()
    if exists is not None:
        raise conflict("already_credited", f"{kind} {reference} was credited already")
    entry = PointsEntry(customer_id=customer_id, delta=points, kind=kind, reference=reference, remaining=points,
                        available_at=now, expires_at=now + timedelta(days=settings.points_expiry_days),
                        created_at=now)
    session.add(entry)
    _post(session, customer_id, points, now)
    session.flush()
    return entry


@functools.cache
def _spend_lots(pg: bool, with_entry: bool) -> Update:
    """The FIFO spend of ``spend`` points of the ``member``'s lots, built once with bind parameters
    (building it costs more than running it); ``with_entry`` (PostgreSQL): the spending's ledger row
    (``entry_kind``, ``entry_reference``, ``now``) written by the same statement."""
    spend = bindparam("spend", type_=BigInteger)
    lots = (select(PointsEntry.id, PointsEntry.remaining,
                   func.sum(PointsEntry.remaining).over(order_by=(PointsEntry.available_at, PointsEntry.id))
                   .label("upto"))
            .where(PointsEntry.customer_id == bindparam("member"), PointsEntry.remaining > 0).subquery())
    before = lots.c.upto - lots.c.remaining  # what older lots cover
    smaller = func.least if pg else func.min  # SQLite's two-argument min
    statement = (update(PointsEntry).where(PointsEntry.id == lots.c.id, before < spend)
                 .values(remaining=PointsEntry.remaining - smaller(lots.c.remaining, spend - before))
                 .returning(PointsEntry.remaining))
    if with_entry:
        # the new row spends nothing (remaining 0), so the lots read does not need to see it
        statement = statement.add_cte(insert(PointsEntry).values(
            customer_id=bindparam("member"), delta=-spend, kind=bindparam("entry_kind"),
            reference=bindparam("entry_reference"), remaining=0, available_at=bindparam("now"), expires_at=None,
            created_at=bindparam("now")).cte("spent"))
    return statement


_TAKE_BALANCE = (update(Customer).where(Customer.id == bindparam("member"), Customer.points >= bindparam("spend"))
                 .values(points=Customer.points - bindparam("spend"), updated_at=bindparam("now"))
                 .returning(Customer.points))


def _take_fifo(session: Session, customer_id: str, points: int) -> None:
    """Use ``points`` of the member's entries, oldest first, in one statement (the caller has taken
    the balance: its row lock on the member serialises this member's spending)."""
    session.flush()  # lots credited earlier in this transaction count too
    taken = core(session).execute(_spend_lots(on_postgresql(session), False),
                                  {"member": customer_id, "spend": points}).all()
    if not taken:
        raise RuntimeError(f"points ledger of {customer_id} holds less than its balance")  # a broken invariant


def debit(session: Session, customer_id: str, points: int, kind: str, reference: str, now: datetime) -> None:
    """Spend ``points`` (redemption at checkout): 409 ``insufficient_points`` when the balance is short.
    The balance is taken by one conditional UPDATE, so concurrent redemptions against one balance
    can never take it below zero. On PostgreSQL the lots spent and the ledger row are one more
    statement, both run straight through the driver (checkout's hot path)."""
    if points <= 0:
        raise ApiError(422, "invalid_points", "points to redeem must be positive")
    params = {"member": customer_id, "spend": points, "now": now, "entry_kind": kind, "entry_reference": reference}
    pg = on_postgresql(session)
    session.flush()  # lots credited earlier in this transaction count too
    taken = (driver_rows(session, _TAKE_BALANCE, params) if pg
             else core(session).execute(_TAKE_BALANCE, params).all())
    if not taken:
        balance = session.execute(select(Customer.points).where(Customer.id == customer_id)).scalar()
        raise conflict("insufficient_points", f"{points} points asked, {balance or 0} spendable",
                       {"balance": balance or 0})
    if pg:
        spent = driver_rows(session, _spend_lots(True, True), params)
    else:
        spent = core(session).execute(_spend_lots(False, False), params).all()
        core(session).execute(insert(PointsEntry).values(customer_id=customer_id, delta=-points, kind=kind,
                                                         reference=reference, remaining=0, available_at=now,
                                                         expires_at=None, created_at=now))
    if not spent:
        raise RuntimeError(f"points ledger of {customer_id} holds less than its balance")  # a broken invariant


def refund_redeemed(session: Session, settings: Settings, order: Order, points: int, reference: str,
                    now: datetime) -> None:
    """Give back ``points`` an order had redeemed (cancelled, or its lines returned)."""
    if points > 0 and order.customer_id:
        credit(session, settings, order.customer_id, points, "refund", reference, now)


# the member's completed orders whose points are not credited yet, with the rate of their tier
# (goods only: the shipping fee earns nothing and qualifies for no tier)
_UNCREDITED = (select(Order.customer_id, Order.id, Order.completed_at, Order.total - Order.shipping_fee - Order.refunded,
                      TierRule.points_percent)
               .join(Customer, Customer.id == Order.customer_id).join(TierRule, TierRule.tier == Customer.tier)
               .where(Order.status.in_(EARNED), ~select(PointsEntry.id).where(
                   PointsEntry.customer_id == Order.customer_id, PointsEntry.kind == "purchase",
                   PointsEntry.reference == literal("order:") + Order.id).exists()))


def pending_points(session: Session, customer_id: str) -> int:
    """Points of the member's completed orders not credited yet (they are once the return window closes)."""
    rows = session.execute(_UNCREDITED.where(Order.customer_id == customer_id)).all()
    return sum(max(amount, 0) // POINTS_PER_UNIT * pct // 100 for *_, amount, pct in rows)


def mature(session: Session, settings: Settings, now: datetime) -> int:
    """Credit the points of every member's order whose return window has closed and that has none yet
    (at the rate of the member's tier now, on what was paid less refunded). Returns the entries."""
    window = timedelta(days=settings.return_window_days)
    due = session.execute(_UNCREDITED.where(Order.completed_at <= now - window)
                          .order_by(Order.customer_id, Order.id)).all()
    rows, by_member = [], {}
    for customer_id, order_id, completed_at, amount, pct in due:
        points = max(amount, 0) // POINTS_PER_UNIT * pct // 100
        if points <= 0:
            continue
        available = completed_at + window
        rows.append({"customer_id": customer_id, "delta": points, "kind": "purchase", "reference": f"order:{order_id}",
                     "remaining": points, "available_at": available, "created_at": now,
                     "expires_at": available + timedelta(days=settings.points_expiry_days)})
        by_member[customer_id] = by_member.get(customer_id, 0) + points
    for start in range(0, len(rows), 10_000):
        session.execute(insert(PointsEntry), rows[start:start + 10_000])
    for customer_id, delta in sorted(by_member.items()):  # one order of locks: no deadlocks between runs
        _post(session, customer_id, delta, now)
    return len(rows)


def reverse_for_refund(session: Session, order: Order, refunded_before: int, refund: int, now: datetime) -> int:
    """A refund after the order's points were credited takes back their share: what is left of them
    times ``refund`` over what was left paid (the last refund takes the rest), never below a zero
    balance. Returns the points taken back (0 before the points were credited: ``mature`` then
    counts only what was not refunded)."""
    if not order.customer_id:
        return 0
    reference = f"order:{order.id}"
    entries = session.execute(select(PointsEntry.kind, PointsEntry.delta).where(
        PointsEntry.customer_id == order.customer_id, PointsEntry.kind.in_(("purchase", "reversal")),
        PointsEntry.reference.like(reference + "%"))).all()
    earned = sum(d for k, d in entries if k == "purchase")
    left = earned + sum(d for k, d in entries if k == "reversal")
    paid_left = order.total - refunded_before
    if not earned or left <= 0 or paid_left <= 0:
        return 0
    share = left if refund >= paid_left else left * refund // paid_left
    balance = session.execute(select(Customer.points).where(Customer.id == order.customer_id)
                              .with_for_update()).scalar_one()
    share = min(share, balance)
    if share:
        _post(session, order.customer_id, -share, now)
        _take_fifo(session, order.customer_id, share)
        session.add(PointsEntry(customer_id=order.customer_id, delta=-share, kind="reversal",
                                reference=f"{reference}:refund:{refunded_before + refund}", remaining=0,
                                available_at=now, expires_at=None, created_at=now))
    return share


def expire(session: Session, now: datetime) -> int:
    """Expire what is left of every entry past its expiry date: an ``expiry`` entry each, the balance
    down by the same. Returns the points expired."""
    stale = session.execute(select(PointsEntry).where(PointsEntry.remaining > 0, PointsEntry.expires_at <= now)
                            .order_by(PointsEntry.customer_id, PointsEntry.id).with_for_update()).scalars().all()
    total = 0
    for entry in stale:
        _post(session, entry.customer_id, -entry.remaining, now)
        session.add(PointsEntry(customer_id=entry.customer_id, delta=-entry.remaining, kind="expiry",
                                reference=f"entry:{entry.id}", remaining=0, available_at=now,
                                expires_at=None, created_at=now))
        total += entry.remaining
        entry.remaining = 0
    return total


def _spend_since(since: datetime):  # noqa: ANN202 - a correlated scalar subquery over customers
    return (select(func.coalesce(func.sum(Order.total - Order.shipping_fee - Order.refunded), 0))
            .where(Order.customer_id == Customer.id, Order.status.in_(("completed", "returned")),
                   Order.completed_at >= since).correlate(Customer).scalar_subquery())


def evaluate_tiers(session: Session, now: datetime, customer_id: str | None = None,
                   grace_days: int | None = None) -> dict[str, int]:
    """Set members' tiers (all, or ``customer_id``'s) from their qualifying spend, in set-based
    UPDATEs: up at once; down only with ``grace_days``, for members in their tier that long or more."""
    target_rank = (select(func.max(TierRule.rank)).where(TierRule.min_spend <= _spend_since(
        now - timedelta(days=SPEND_DAYS))).scalar_subquery())
    current_rank = select(TierRule.rank).where(TierRule.tier == Customer.tier).correlate(Customer).scalar_subquery()
    target_tier = select(TierRule.tier).where(TierRule.rank == target_rank).scalar_subquery()
    scope = [Customer.id == customer_id] if customer_id else []
    moves = {"up": [target_rank > func.coalesce(current_rank, -1)]}
    if grace_days is not None:
        moves["down"] = [target_rank < current_rank,
                         func.coalesce(Customer.tier_since, Customer.created_at) <= now - timedelta(days=grace_days)]
    out = {"down": 0}
    for name, where in moves.items():
        result = session.execute(update(Customer).where(*scope, *where)
                                 .values(tier=target_tier, tier_since=now, updated_at=now)
                                 .execution_options(synchronize_session=False))
        out[name] = result.rowcount
    return out


def issue_birthday_coupons(session: Session, now: datetime) -> int:
    """Each tier with a birthday coupon: one amount-off coupon, valid through the month, for every
    member of the tier whose birthday is in this month and who has not had this year's. Set-based:
    one INSERT ... SELECT per tier. Returns the coupons issued."""
    start = datetime(now.year, now.month, 1)
    end = start + timedelta(days=calendar.monthrange(now.year, now.month)[1])
    issued = 0
    for rule in session.execute(select(TierRule).where(TierRule.birthday_coupon > 0)).scalars():
        name = f"birthday {now.year}-{now.month:02d} {rule.tier}"
        definition = session.execute(select(CouponDefinition).where(CouponDefinition.name == name)).scalar()
        if definition is None:
            definition = CouponDefinition(code=None, name=name, starts_at=start, ends_at=end, used=0,
                                          rule={"kind": "amount_off", "value": rule.birthday_coupon},
                                          usage_limit=None, per_customer_limit=1, stacks_with_campaigns=True,
                                          created_at=now)
            session.add(definition)
            session.flush()
        this_year = (select(Coupon.id).join(CouponDefinition, CouponDefinition.id == Coupon.definition_id)
                     .where(Coupon.customer_id == Customer.id, CouponDefinition.name.like(f"birthday {now.year}-%")))
        members = select(literal(definition.id), Customer.id, literal("issued"), literal(now), literal(now)).where(
            Customer.tier == rule.tier, extract("month", Customer.birthday) == now.month, ~this_year.exists())
        session.flush()  # the definition and the members' tiers are written before the Core statement
        # RETURNING counts them: psycopg reports no rowcount for INSERT ... SELECT with bound literals
        issued += len(core(session).execute(insert(Coupon).from_select(
            ["definition_id", "customer_id", "status", "issued_at", "updated_at"], members).returning(Coupon.id)).all())
    return issued


def run_schedule(session: Session, settings: Settings, now: datetime) -> dict[str, int]:
    """The loyalty jobs, in one transaction: credit the points of orders past the return window, expire old ones, re-evaluate tiers
    (with downgrades), hand out birthday coupons."""
    credited = mature(session, settings, now)
    session.flush()
    expired = expire(session, now)
    session.flush()
    tiers = evaluate_tiers(session, now, grace_days=settings.tier_grace_days)
    return {"purchases_credited": credited, "points_expired": expired, "tier_upgrades": tiers["up"],
            "tier_downgrades": tiers["down"], "birthday_coupons": issue_birthday_coupons(session, now),
            "referrals_rewarded": reward_referrals(session, settings, now)}


def reward_referrals(session: Session, settings: Settings, now: datetime) -> int:
    """Both sides of each pending referral whose newcomer has completed an order get
    ``referral_points`` (once: the ledger's (kind, reference) is unique); returns the referrals rewarded."""
    due = session.scalars(select(Referral).where(Referral.status == "pending", exists().where(
        Order.customer_id == Referral.invitee_id, Order.status.in_(EARNED))).with_for_update()).all()
    for referral in due:
        for member in (referral.referrer_id, referral.invitee_id):
            credit(session, settings, member, settings.referral_points, "referral", f"invitee:{referral.invitee_id}",
                   now)
        referral.status, referral.rewarded_at = "rewarded", now
    return len(due)


def balance_mismatches(session: Session) -> list[tuple[str, int, int, int]]:
    """Members whose cached balance differs from their ledger: (id, customers.points, sum of deltas,
    sum of remaining). Empty when the ledger holds."""
    deltas = (select(PointsEntry.customer_id, func.sum(PointsEntry.delta).label("delta"),
                     func.sum(PointsEntry.remaining).label("remaining"))
              .group_by(PointsEntry.customer_id).subquery())
    rows = session.execute(select(Customer.id, Customer.points, func.coalesce(deltas.c.delta, 0),
                                  func.coalesce(deltas.c.remaining, 0))
                           .outerjoin(deltas, deltas.c.customer_id == Customer.id)).all()
    return [tuple(r) for r in rows if not r[1] == r[2] == r[3]]
