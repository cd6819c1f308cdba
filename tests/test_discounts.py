"""The checkout price calculation (commerce_api.discounts): edges by hand, invariants by hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commerce_api.discounts import Line, Rule, calculate, returned_share, split
from commerce_api.errors import ApiError

SPEND_300_SAVE_30 = Rule("campaign:1", "spend_save", thresholds=((30000, 3000), (50000, 6000)))


def _lines(*amounts: tuple[int, int], category: str = "A") -> list[Line]:
    return [Line(n, f"S{n}", category, q, p) for n, (q, p) in enumerate(amounts, start=1)]


def test_a_threshold_exactly_met_saves_and_one_cent_short_does_not():
    met = calculate(_lines((1, 20000), (1, 10000)), campaigns=[SPEND_300_SAVE_30])
    assert met.total == 27000 and {d.line_number: d.amount for d in met.discounts} == {1: 2000, 2: 1000}
    short = calculate(_lines((1, 20000), (1, 9999)), campaigns=[SPEND_300_SAVE_30])
    assert short.total == 29999 and short.discounts == ()
    assert calculate(_lines((1, 50000)), campaigns=[SPEND_300_SAVE_30]).total == 44000  # the higher tier


def test_stacking_order_tier_then_best_campaign_then_coupon_then_points():
    lines = _lines((2, 10000), (1, 15000))  # 35,000
    percent = Rule("campaign:2", "percent_off", value=5)  # 5 % of 33,250 = 1,662 < 3,000: spend-save wins
    coupon = Rule("coupon:9", "amount_off", value=1000, min_spend=20000)
    priced = calculate(lines, tier="gold", tier_percent=5, campaigns=[percent, SPEND_300_SAVE_30], coupon=coupon,
                       points=500, points_cap_percent=50)
    assert priced.sources == {"tier:gold": 1750, "campaign:1": 3000, "coupon:9": 1000, "points": 500}
    assert priced.total == 35000 - 1750 - 3000 - 1000 - 500
    assert [d.kind for d in priced.discounts][:2] == ["tier", "tier"]


def test_flash_sale_lines_take_no_deal_but_points():
    lines = [Line(1, "F", "A", 1, 30000, flash=True), Line(2, "B", "A", 1, 1000)]
    priced = calculate(lines, tier_percent=10, campaigns=[SPEND_300_SAVE_30], points=100)
    assert {(d.kind, d.line_number) for d in priced.discounts if d.kind != "points"} == {("tier", 2)}
    assert sum(d.amount for d in priced.discounts if d.kind == "points") == 100


def test_coupons_say_why_they_do_not_apply_and_points_respect_the_cap():
    with pytest.raises(ApiError) as exc:
        calculate(_lines((1, 5000)), coupon=Rule("coupon:1", "amount_off", value=500, min_spend=10000))
    assert exc.value.code == "coupon_not_applicable" and exc.value.details["eligible_amount"] == 5000
    with pytest.raises(ApiError) as exc:
        calculate(_lines((1, 5000)), coupon=Rule("coupon:1", "percent_off", value=10, categories=frozenset({"Z"})))
    assert exc.value.code == "coupon_not_applicable"
    with pytest.raises(ApiError) as exc:
        calculate(_lines((1, 5000)), points=2501, points_cap_percent=50)
    assert exc.value.code == "points_over_cap" and exc.value.details["max_points"] == 2500


def test_rounding_is_to_the_minor_unit_and_adds_up():
    priced = calculate(_lines((1, 333), (1, 333), (1, 334)), campaigns=[Rule("campaign:3", "amount_off", value=100)])
    assert sorted(d.amount for d in priced.discounts) == [33, 33, 34] and priced.total == 900
    assert split(10, {1: 10, 2: 10, 3: 10}) == {1: 4, 2: 3, 3: 3}  # the remainder to the lowest key on ties


def test_a_partial_return_undoes_exactly_its_share_of_a_spend_save():
    priced = calculate(_lines((3, 10000), (1, 5000)), campaigns=[SPEND_300_SAVE_30])  # 35,000 - 3,000
    line_1 = {d.line_number: d.amount for d in priced.discounts}[1]  # 30,000 of 35,000 -> 2,572
    shares = [returned_share(line_1, 3, before, 1) for before in range(3)]
    assert sum(shares) == line_1 and max(shares) - min(shares) <= 1


# ---------------------------------------------------------------------------------- invariants
@st.composite
def orders(draw):
    n = draw(st.integers(1, 6))
    lines = [Line(i + 1, f"S{i}", draw(st.sampled_from("ABC")), draw(st.integers(1, 5)),
                  draw(st.integers(0, 50_000)), flash=draw(st.booleans()) and i % 3 == 2) for i in range(n)]
    kinds = st.sampled_from(["spend_save", "percent_off", "amount_off"])

    def rule(source):
        kind = draw(kinds)
        spend = draw(st.integers(1, 200_000))
        return Rule(source, kind, value=draw(st.integers(1, 100)) if kind == "percent_off" else draw(st.integers(1, 90_000)),
                    thresholds=((spend, draw(st.integers(1, spend))),), min_spend=draw(st.integers(0, 50_000)),
                    min_quantity=draw(st.integers(0, 6)), max_discount=draw(st.none() | st.integers(1, 50_000)),
                    categories=draw(st.none() | st.frozensets(st.sampled_from("ABC"), min_size=1)))

    campaigns = [rule(f"campaign:{i}") for i in range(draw(st.integers(0, 3)))]
    coupon = draw(st.none() | st.just(rule("coupon:1")))
    # a points reward takes a deal-free line for points
    rewards = {ln.line_number: (f"reward:{ln.line_number}", draw(st.integers(1, 10**5)))
               for ln in lines if ln.flash and draw(st.booleans())}
    return (lines, draw(st.integers(0, 20)), campaigns, coupon, draw(st.integers(0, 10**6)), draw(st.integers(0, 100)),
            rewards)


@settings(max_examples=400, deadline=None)
@given(orders())
def test_invariants_total_never_negative_lines_never_below_zero_full_refund_is_the_amount_paid(case):
    lines, tier_percent, campaigns, coupon, points, cap, rewards = case
    try:
        priced = calculate(lines, tier_percent=tier_percent, campaigns=campaigns, coupon=coupon, points=points,
                           points_cap_percent=cap, rewards=rewards)
    except ApiError as exc:
        assert exc.code in ("coupon_not_applicable", "points_over_cap")
        return
    assert 0 <= priced.total <= priced.subtotal
    for line in lines:
        assert 0 <= priced.net(line.line_number) <= line.amount
    assert sum(priced.sources.values()) == priced.subtotal - priced.total
    assert all(d.amount > 0 for d in priced.discounts)
    for number in rewards:  # paid in full by points
        assert priced.net(number) == 0
    # returning every unit, one at a time, gives back exactly what was paid (and the points)
    refund = points_back = 0
    for line in lines:
        mine = [d for d in priced.discounts if d.line_number == line.line_number]
        for before in range(line.quantity):
            refund += line.unit_price
            for d in mine:
                share = returned_share(d.amount, line.quantity, before, 1)
                refund -= share
                points_back += returned_share(d.points, line.quantity, before, 1)
    assert refund == priced.total and points_back == priced.points == points + sum(
        cost for number, (_, cost) in rewards.items() if any(ln.line_number == number and ln.amount for ln in lines))
