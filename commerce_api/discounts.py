"""The one price calculation of checkout: from the lines at the price in force (``pricing``) to the
discount lines of the member's tier, the best running campaign, a coupon and redeemed points, each
split over the order lines in integer minor units, so receipts, refunds and the warehouse can explain
every cent. Pure functions: no database, the same answer for the same input.

Each step works on what the previous one left of each line::

    points rewards -> tier discount (percent) -> best campaign -> coupon -> points

A points reward line (积分兑换) is paid in full by its reward's points. Flash-sale, group-buy and
bargain lines take no tier discount, campaign or coupon (their price is the deal); points pay for
any line. A discount is split over its eligible lines in proportion to what each still costs, by
largest remainder (ties: the lower line number), so no line is discounted below zero.

A return of ``q`` of a line's ``Q`` units gives back ``floor(d * (r + q) / Q) - floor(d * r / Q)`` of
each discount ``d`` on the line (``r`` returned before): the shares of successive returns add up to
exactly ``d``, so returning everything refunds exactly what was paid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from commerce_api.errors import ApiError

KINDS = ("reward", "tier", "campaign", "coupon", "points")
RULE_KINDS = ("spend_save", "percent_off", "amount_off")


@dataclass(frozen=True)
class Line:
    """One line to price: ``unit_price`` in minor units is the price in force (regional, promotion or
    flash sale); ``flash`` marks a flash-sale price, which takes no further deal but points."""

    line_number: int
    sku: str
    category: str
    quantity: int
    unit_price: int
    flash: bool = False

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Rule:
    """What a campaign or coupon gives, over its eligible lines (SKUs and categories: ``None`` = all).

    ``spend_save``: ``thresholds`` ((spend, save), ...) -- the highest spend reached saves its amount
    (满减, tiered); ``percent_off``: ``value`` percent (1-100); ``amount_off``: ``value`` minor units.
    ``min_spend`` (minor units) and ``min_quantity`` (units) are over the eligible lines;
    ``max_discount`` caps the discount."""

    source: str  # campaign:<id> | coupon:<id>
    kind: str
    value: int = 0
    thresholds: tuple[tuple[int, int], ...] = ()
    min_spend: int = 0
    min_quantity: int = 0
    max_discount: int | None = None
    skus: frozenset[str] | None = None
    categories: frozenset[str] | None = None

    def eligible(self, line: Line) -> bool:
        return (not line.flash and (self.skus is None or line.sku in self.skus)
                and (self.categories is None or line.category in self.categories))

    def discount(self, base: int, units: int) -> int:
        """The discount on ``base`` minor units in ``units`` units of eligible lines (0 below the
        minimum spend or quantity)."""
        if base <= 0 or base < self.min_spend or units < self.min_quantity:
            return 0
        if self.kind == "spend_save":
            saved = max((save for spend, save in self.thresholds if spend <= base), default=0)
        elif self.kind == "percent_off":
            saved = base * self.value // 100
        else:
            saved = self.value
        if self.max_discount is not None:
            saved = min(saved, self.max_discount)
        return max(min(saved, base), 0)


@dataclass(frozen=True)
class DiscountLine:
    kind: str  # reward | tier | campaign | coupon | points
    source: str  # reward:<id> | tier:<name> | campaign:<id> | coupon:<id> | points
    line_number: int
    amount: int  # minor units taken off this line
    points: int = 0  # points it cost: redeemed points one per minor unit, a reward its points


@dataclass(frozen=True)
class Priced:
    """The lines with every discount line; ``total`` = ``subtotal`` - the discounts (minor units)."""

    lines: tuple[Line, ...]
    discounts: tuple[DiscountLine, ...]
    points: int = 0  # points spent: redeemed against the price and paid for rewards
    sources: dict[str, int] = field(default_factory=dict)  # discount per source

    @property
    def subtotal(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def total(self) -> int:
        return self.subtotal - sum(d.amount for d in self.discounts)

    def net(self, line_number: int) -> int:
        """What the line costs after every discount."""
        line = next(ln for ln in self.lines if ln.line_number == line_number)
        return line.amount - sum(d.amount for d in self.discounts if d.line_number == line_number)


def split(amount: int, weights: dict[int, int], bounded: bool = True) -> dict[int, int]:
    """``amount`` (<= the sum of ``weights`` when ``bounded``: a discount never exceeds what it is
    taken off) over the keys in proportion to their weights, by largest remainder (ties: the lower
    key). Zero shares are left out."""
    total = sum(weights.values())
    if amount <= 0 or total <= 0:
        return {}
    if bounded and amount > total:
        raise ValueError(f"cannot split {amount} over weights summing to {total}")
    shares = {k: amount * w // total for k, w in weights.items()}
    left = amount - sum(shares.values())
    for k in sorted(weights, key=lambda k: (-(amount * weights[k] % total), k))[:left]:
        shares[k] += 1
    return {k: v for k, v in shares.items() if v}


def returned_share(allocated: int, quantity: int, returned_before: int, returning: int) -> int:
    """The part of a line's discount ``allocated`` over ``quantity`` units that ``returning`` more
    units take back, after ``returned_before`` went back earlier (shares add up to ``allocated``)."""
    return allocated * (returned_before + returning) // quantity - allocated * returned_before // quantity


class _Ledger:
    def __init__(self, lines: Sequence[Line]) -> None:
        self.lines = tuple(lines)
        self.left = {ln.line_number: ln.amount for ln in lines}
        self.out: list[DiscountLine] = []
        self.sources: dict[str, int] = {}

    def base(self, eligible: Iterable[Line]) -> dict[int, int]:
        return {ln.line_number: self.left[ln.line_number] for ln in eligible if self.left[ln.line_number] > 0}

    def take(self, kind: str, source: str, amount: int, weights: dict[int, int], points: int = 0) -> None:
        """``amount`` off the lines by ``weights``; ``points`` (what it cost in points) by the same weights."""
        costs = split(points, weights, bounded=False) if points else {}
        for number, share in sorted(split(amount, weights).items()):
            self.left[number] -= share
            self.out.append(DiscountLine(kind, source, number, share, costs.get(number, 0)))
        if amount:
            self.sources[source] = self.sources.get(source, 0) + amount


def calculate(lines: Sequence[Line], *, tier: str = "member", tier_percent: int = 0,
              campaigns: Sequence[Rule] = (), coupon: Rule | None = None, points: int = 0,
              points_cap_percent: int = 100, rewards: dict[int, tuple[str, int]] | None = None) -> Priced:
    """Price an order. ``rewards``: line number -> (source, points) of lines taken for points in
    full (their lines should be ``flash``: no other deal). ``campaigns``: the running campaigns the buyer qualifies for, in a fixed
    order; the one saving most applies (ties: the first). ``coupon``: applied after it (422
    ``coupon_not_applicable`` when it saves nothing here). ``points``: one point pays one minor unit,
    at most ``points_cap_percent`` of what is left to pay (422 ``points_over_cap`` beyond)."""
    numbers = [ln.line_number for ln in lines]
    if len(set(numbers)) != len(numbers):
        raise ValueError("line numbers must be unique")
    if any(ln.quantity <= 0 or ln.unit_price < 0 for ln in lines):
        raise ValueError("quantities must be positive and prices not negative")
    book = _Ledger(lines)
    spent = 0
    for number, (source, cost) in sorted((rewards or {}).items()):
        if book.left[number] > 0:  # a line that costs nothing costs no points either
            book.take("reward", source, book.left[number], {number: book.left[number]}, points=cost)
            spent += cost
    if tier_percent:
        weights = book.base(ln for ln in lines if not ln.flash)
        book.take("tier", f"tier:{tier}", sum(weights.values()) * tier_percent // 100, weights)
    best: tuple[int, Rule] | None = None
    for rule in campaigns:
        saved = rule.discount(*_eligible(book, rule, lines))
        if saved and (best is None or saved > best[0]):
            best = (saved, rule)
    if best is not None:
        book.take("campaign", best[1].source, best[0], book.base(filter(best[1].eligible, lines)))
    if coupon is not None:
        weights = book.base(filter(coupon.eligible, lines))
        base, units = _eligible(book, coupon, lines)
        saved = coupon.discount(base, units)
        if not saved:
            reason = (f"spend at least {coupon.min_spend} on eligible items (now {base})"
                      if 0 < base < coupon.min_spend else
                      f"buy at least {coupon.min_quantity} eligible units (now {units})"
                      if base > 0 and units < coupon.min_quantity else "no item in this order is eligible")
            raise ApiError(422, "coupon_not_applicable", f"{coupon.source} does not apply: {reason}",
                           {"eligible_amount": base, "min_spend": coupon.min_spend,
                            "eligible_units": units, "min_quantity": coupon.min_quantity})
        book.take("coupon", coupon.source, saved, weights)
    if points < 0:
        raise ApiError(422, "invalid_points", "points cannot be negative")
    if points:
        weights = book.base(lines)
        cap = sum(weights.values()) * points_cap_percent // 100
        if points > cap:
            raise ApiError(422, "points_over_cap", f"at most {cap} points can pay for this order",
                           {"max_points": cap})
        book.take("points", "points", points, weights, points=points)
    return Priced(book.lines, tuple(book.out), points + spent, book.sources)


def _eligible(book: _Ledger, rule: Rule, lines: Sequence[Line]) -> tuple[int, int]:
    """(minor units still to pay, units) of the lines ``rule`` applies to."""
    weights = book.base(filter(rule.eligible, lines))
    return sum(weights.values()), sum(ln.quantity for ln in lines if ln.line_number in weights)
