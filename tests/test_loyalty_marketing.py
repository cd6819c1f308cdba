"""Loyalty and marketing through the API: tiers, the points ledger, coupons, campaigns with control
groups; on PostgreSQL and SQLite, and their limits under concurrency on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta

from sqlalchemy import select, update

from commerce_api import loyalty
from commerce_api.clock import utcnow
from commerce_api.db import transaction
from commerce_api.schema import CampaignMember, Customer, PointsEntry
from tests.test_commerce_concurrency import _fire
from tests.test_commerce_flows import _completed_order, balanced, receive, stock


def _window(days: int = 30) -> dict:
    now = utcnow()
    return {"starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": (now + timedelta(days=days)).isoformat()}


def _order(w, role: str, lines: list[tuple[str, int]], expect: int = 201, **extra):
    return w.call("POST", "/orders", role=role, expect=expect, json={
        "channel": "app", "lines": [{"sku": s, "quantity": q} for s, q in lines], **extra})


def _ledger_holds(w) -> bool:
    with w.services.sessions() as s:
        return loyalty.balance_mismatches(s) == []


def _members(w, n: int, prefix: str = "AUD") -> list[str]:
    ids = [f"{prefix}{i:03d}" for i in range(n)]
    for i, cid in enumerate(ids):
        w.call("POST", "/customers", json={"id": cid, "member_code": f"{prefix}-{i:05d}", "region": "east"},
               expect=201)
    return ids


def _key(w, customer_id: str) -> dict:
    key = w.call("POST", "/api-keys", json={"role": "shopper", "customer_id": customer_id}, expect=201).json()["key"]
    return {"Authorization": f"Bearer {key}"}


def test_a_spend_save_campaign_reaches_its_treatment_group_and_not_its_control_group(world):
    w = world
    receive(w, "RW-E", "CASE-BLK", 100)
    audience = ["C1", "C3", *_members(w, 38)]
    campaign = w.call("POST", "/campaigns", role="marketer", expect=201, json={
        "name": "Spend 150 save 20", "kind": "spend_save", **_window(),
        "rule": {"kind": "spend_save", "thresholds": [[15000, 2000], [30000, 5000]]},
        "audience": {"uploaded_list": True}, "control_percent": 30}).json()
    assert campaign["status"] == "draft"
    assert w.call("POST", f"/campaigns/{campaign['id']}/launch", role="marketer", json={"members": ["NOPE"]}
                  ).json()["error"]["code"] == "unknown_members"
    launched = w.call("POST", f"/campaigns/{campaign['id']}/launch", role="marketer", expect=200,
                      json={"members": audience}).json()
    assert launched["audience"] == 40 and launched["treatment"] + launched["control"] == 40
    assert 4 <= launched["control"] <= 20 and launched["campaign"]["status"] == "live"
    assert w.call("POST", f"/campaigns/{campaign['id']}/launch", role="marketer",
                  json={"members": audience}).status_code == 409  # live already
    with w.services.sessions() as s:
        groups = dict(s.execute(select(CampaignMember.customer_id, CampaignMember.grp)
                                .where(CampaignMember.campaign_id == campaign["id"])).all())
    treated = next(c for c in audience[2:] if groups[c] == "treatment")
    held_out = next(c for c in audience[2:] if groups[c] == "control")
    got = w.call("POST", "/orders", headers=_key(w, treated), expect=201, json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 2}]}).json()  # 19,800: the first threshold
    assert got["subtotal"] == 19800 and got["total"] == 17800
    assert [(d["kind"], d["source"], d["amount"]) for d in got["discounts"]] == [
        ("campaign", f"campaign:{campaign['id']}", 2000)]
    control = w.call("POST", "/orders", headers=_key(w, held_out), expect=201, json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 2}]}).json()
    assert control["total"] == control["subtotal"] == 19800 and control["discounts"] == []
    guest = _order(w, "service", [("CASE-BLK", 2)]).json()  # not in the audience: full price
    assert guest["total"] == 19800


def test_a_code_coupon_with_limits_tier_discount_and_points_in_one_calculation(world):
    w = world
    receive(w, "RW-E", "CASE-BLK", 100)
    receive(w, "RW-E", "PHONE-BLK-128", 10)
    coupon = w.call("POST", "/coupon-definitions", role="marketer", expect=201, json={
        "code": "CASE10", "name": "10 % off cases", **_window(), "per_customer_limit": 1, "usage_limit": 100,
        "rule": {"kind": "percent_off", "value": 10, "categories": ["Accessories"], "min_spend": 10000}}).json()
    # C3 is gold (5 % off); points first: C3 checks in, the service credits a referral
    w.call("POST", "/customers/C3/points/behaviour", role="service", expect=201,
           json={"kind": "referral", "reference": "C1", "points": 3000})
    assert w.call("POST", "/customers/C3/points/behaviour", role="service",
                  json={"kind": "referral", "reference": "C1", "points": 3000}).status_code == 409  # once
    gold = w.h("admin")
    too_small = w.call("POST", "/orders", headers=gold, json={
        "channel": "app", "customer_id": "C3", "coupon_code": "CASE10", "lines": [{"sku": "CASE-BLK", "quantity": 1}]})
    assert too_small.status_code == 422 and too_small.json()["error"]["code"] == "coupon_not_applicable"
    order = w.call("POST", "/orders", headers=gold, expect=201, json={
        "channel": "app", "customer_id": "C3", "coupon_code": "CASE10", "points": 2000,
        "lines": [{"sku": "CASE-BLK", "quantity": 2}, {"sku": "PHONE-BLK-128", "quantity": 1}]}).json()
    by_source = Counter()
    for d in order["discounts"]:
        by_source[d["source"]] += d["amount"]
    subtotal = 2 * 9900 + 399900
    tier = subtotal * 5 // 100
    cases_after_tier = 19800 - next(d["amount"] for d in order["discounts"]
                                    if d["source"] == "tier:gold" and _sku(order, d) == "CASE-BLK")
    assert by_source == {"tier:gold": tier, f"coupon:{coupon['id']}": cases_after_tier * 10 // 100, "points": 2000}
    assert order["total"] == subtotal - sum(by_source.values()) and order["points_redeemed"] == 2000
    points = w.call("GET", "/customers/C3/points", role="admin", expect=200).json()
    assert points["balance"] == 1000 and [e["kind"] for e in points["items"]] == ["redemption", "referral"]
    again = w.call("POST", "/orders", headers=gold, json={
        "channel": "app", "customer_id": "C3", "coupon_code": "CASE10", "lines": [{"sku": "CASE-BLK", "quantity": 2}]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "coupon_limit_reached"
    broke = w.call("POST", "/orders", headers=gold, json={
        "channel": "app", "customer_id": "C3", "points": 1001, "lines": [{"sku": "CASE-BLK", "quantity": 2}]})
    assert broke.status_code == 409 and broke.json()["error"]["code"] == "insufficient_points"
    # cancelling gives the coupon use and the points back
    w.call("POST", f"/orders/{order['id']}/cancel", role="admin", json={}, expect=200)
    assert w.call("GET", "/customers/C3/points", role="admin", expect=200).json()["balance"] == 3000
    definition = w.call("GET", "/coupon-definitions", role="marketer", expect=200).json()["items"][0]
    assert definition["used"] == 0
    w.call("POST", "/orders", headers=gold, expect=201, json={
        "channel": "app", "customer_id": "C3", "coupon_code": "CASE10", "lines": [{"sku": "CASE-BLK", "quantity": 2}]})
    assert _ledger_holds(w) and balanced(w)


def _sku(order: dict, discount: dict) -> str:
    return next(ln["sku"] for ln in order["lines"] if ln["line_number"] == discount["line_number"])


def test_a_partial_return_gives_back_each_discounts_share_and_points_follow_the_window(world):
    w = world
    receive(w, "RW-E", "CASE-BLK", 100)
    w.call("POST", "/campaigns", role="marketer", expect=201, json={
        "name": "Spend 200 save 30", "kind": "spend_save", **_window(),
        "rule": {"kind": "spend_save", "thresholds": [[20000, 3000]]}})
    campaign = w.call("GET", "/campaigns", role="marketer", expect=200).json()["items"][0]
    w.call("POST", f"/campaigns/{campaign['id']}/launch", role="marketer", json={}, expect=200)  # for everyone
    w.call("POST", "/customers/C1/points/behaviour", role="shopper", expect=201, json={"kind": "daily_check_in"})
    assert w.call("POST", "/customers/C1/points/behaviour", role="shopper",
                  json={"kind": "daily_check_in"}).status_code == 409  # once a day
    assert w.call("POST", "/customers/C2/points/behaviour", role="shopper",
                  json={"kind": "daily_check_in"}).status_code == 403  # not someone else's
    done = _completed_order(w, "shopper", "CASE-BLK", 3, points=5)  # 29,700 - 3,000 - 5 points
    assert done["total"] == 29700 - 3000 - 5 and done["status"] == "completed"
    r = w.call("POST", f"/orders/{done['id']}/returns", role="shopper", expect=201,
               json={"lines": [{"line_number": 1, "quantity": 1}]}).json()
    assert r["status"] == "approved" and r["amount"] == 9900 - 1000 - 1 and r["points"] == 1  # 1/3 of each, floored
    rest = w.call("POST", f"/orders/{done['id']}/returns", role="shopper", expect=201,
                  json={"lines": [{"line_number": 1, "quantity": 2}]}).json()
    assert r["amount"] + rest["amount"] == done["total"] and r["points"] + rest["points"] == 5
    assert rest["order"]["status"] == "returned" and rest["order"]["refunded"] == done["total"]
    kept = _completed_order(w, "shopper", "CASE-BLK", 1)  # 9,900: 99 points once the window closes
    assert w.call("GET", "/customers/C1/points", role="shopper", expect=200).json()["pending"] == 99
    with transaction(w.services.sessions) as s:
        later = utcnow() + timedelta(days=w.services.settings.return_window_days, minutes=1)
        assert loyalty.run_schedule(s, w.services.settings, later)["purchases_credited"] == 1  # not the returned one
    points = w.call("GET", "/customers/C1/points", role="shopper", expect=200).json()
    assert points["balance"] == 5 + 99 and points["pending"] == 0
    assert points["items"][0]["reference"] == f"order:{kept['id']}"
    # a late refund (staff-approved after the window) takes the points back
    with transaction(w.services.sessions) as s:
        from commerce_api import orders
        order = orders.get_order(s, kept["id"], lock=True)
        assert loyalty.reverse_for_refund(s, order, 0, 9900, utcnow()) == 99
    # and what is left expires a year after it became spendable, oldest first
    with transaction(w.services.sessions) as s:
        assert loyalty.expire(s, utcnow() + timedelta(days=w.services.settings.points_expiry_days + 10)) == 5
    assert w.call("GET", "/customers/C1/points", role="shopper", expect=200).json()["balance"] == 0
    assert _ledger_holds(w) and balanced(w)


def test_tiers_go_up_at_once_and_down_only_after_the_grace_period(world):
    w = world
    receive(w, "RW-E", "PHONE-BLK-128", 10)
    assert [t["tier"] for t in w.call("GET", "/tiers", role="shopper", expect=200).json()["items"]] == [
        "member", "silver", "gold", "diamond"]
    _completed_order(w, "shopper", "PHONE-BLK-128", 1)  # 3,999 yuan: silver (2,000)
    assert w.call("GET", "/customers/C1", role="shopper", expect=200).json()["tier"] == "silver"
    settings = w.services.settings
    with transaction(w.services.sessions) as s:  # C2 is diamond with no spend: down, but not yet
        assert loyalty.evaluate_tiers(s, utcnow(), grace_days=settings.tier_grace_days)["down"] == 0
    with transaction(w.services.sessions) as s:
        moved = loyalty.evaluate_tiers(s, utcnow() + timedelta(days=settings.tier_grace_days + 1),
                                       grace_days=settings.tier_grace_days)
        tiers = dict(s.execute(select(Customer.id, Customer.tier)).all())
    assert moved["down"] >= 2 and tiers["C2"] == "member" and tiers["C3"] == "member" and tiers["C1"] == "silver"


def test_birthday_coupons_once_a_year_by_tier(world):
    w = world
    today = utcnow()
    with transaction(w.services.sessions) as s:
        s.execute(update(Customer).where(Customer.id.in_(["C1", "C3"]))
                  .values(birthday=date(1990, today.month, 1)))
    with transaction(w.services.sessions) as s:
        assert loyalty.issue_birthday_coupons(s, today) == 1  # C3 (gold); C1 is a plain member: no coupon
    with transaction(w.services.sessions) as s:
        assert loyalty.issue_birthday_coupons(s, today) == 0  # once
    mine = w.call("GET", "/customers/C3/coupons", role="admin", expect=200).json()["items"]
    assert len(mine) == 1 and mine[0]["definition"]["rule"] == {"kind": "amount_off", "value": 5000}
    assert w.call("GET", "/customers/C3/coupons", role="shopper").status_code == 403  # C1 cannot see C3's


def test_a_coupon_campaign_issues_member_coupons_set_based_and_each_is_used_once(world):
    w = world
    receive(w, "RW-E", "CASE-BLK", 100)
    definition = w.call("POST", "/coupon-definitions", role="marketer", expect=201, json={
        "name": "20 off", **_window(), "rule": {"kind": "amount_off", "value": 2000}}).json()
    campaign = w.call("POST", "/campaigns", role="marketer", expect=201, json={
        "name": "Win back", "kind": "coupon", "coupon_definition_id": definition["id"], **_window(),
        "audience": {"uploaded_list": True}}).json()
    out = w.call("POST", f"/campaigns/{campaign['id']}/launch", role="marketer", expect=200,
                 json={"members": ["C1", "C2"]}).json()
    assert out["coupons_issued"] == 2 and out["campaign"]["coupons"] == {"issued": 2, "used": 0}
    mine = w.call("GET", "/customers/C1/coupons", role="shopper", expect=200).json()["items"]
    assert [c["campaign_id"] for c in mine] == [campaign["id"]]
    theirs = w.call("GET", "/customers/C2/coupons", role="admin", expect=200).json()["items"][0]["id"]
    stolen = _order(w, "shopper", [("CASE-BLK", 1)], coupon_id=theirs, expect=None)
    assert stolen.status_code == 404  # another member's coupon does not exist for C1
    used = _order(w, "shopper", [("CASE-BLK", 1)], coupon_id=mine[0]["id"]).json()
    assert used["total"] == 9900 - 2000
    again = _order(w, "shopper", [("CASE-BLK", 1)], coupon_id=mine[0]["id"], expect=None)
    assert again.status_code == 409 and again.json()["error"]["code"] == "coupon_used"
    assert w.call("GET", f"/campaigns/{campaign['id']}", role="marketer", expect=200).json()["coupons"] == {
        "issued": 1, "used": 1}
    assert stock(w, "CASE-BLK", "RW-E")["reserved"] == 1  # refused orders reserved nothing


# ---------------------------------------------------------------------------- concurrency
def test_100_concurrent_uses_of_a_coupon_limited_to_10_use_it_exactly_10_times(live_pg_world):
    w = live_pg_world
    receive(w, "RW-E", "CASE-BLK", 1000)
    w.call("POST", "/coupon-definitions", role="marketer", expect=201, json={
        "code": "FIRST10", "name": "first ten", **_window(), "usage_limit": 10, "per_customer_limit": None,
        "rule": {"kind": "amount_off", "value": 500}})
    body = {"channel": "app", "coupon_code": "FIRST10", "lines": [{"sku": "CASE-BLK", "quantity": 1}]}
    responses = asyncio.run(_fire(w.base_url, [("POST", "/orders", body, w.h("service"))] * 100))
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 10, 409: 90}, (codes, responses[0].text)
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"coupon_exhausted"}
    assert stock(w, "CASE-BLK", "RW-E")["reserved"] == 10  # the refused ones reserved nothing
    used = w.call("GET", "/coupon-definitions", role="marketer", expect=200).json()["items"][0]["used"]
    assert used == 10


def test_50_concurrent_point_redemptions_never_take_a_balance_below_zero(live_pg_world):
    w = live_pg_world
    receive(w, "RW-E", "CASE-BLK", 1000)
    w.call("POST", "/customers/C1/points/behaviour", role="service", expect=201,
           json={"kind": "referral", "reference": "race", "points": 1000})
    body = {"channel": "app", "points": 300, "lines": [{"sku": "CASE-BLK", "quantity": 1}]}
    responses = asyncio.run(_fire(w.base_url, [("POST", "/orders", body, w.h("shopper"))] * 50))
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 3, 409: 47}, codes
    assert w.call("GET", "/customers/C1/points", role="shopper", expect=200).json()["balance"] == 100
    with w.services.sessions() as s:
        assert loyalty.balance_mismatches(s) == []
        spent = s.execute(select(PointsEntry.delta).where(PointsEntry.customer_id == "C1",
                                                          PointsEntry.kind == "redemption")).scalars().all()
    assert sorted(spent) == [-300, -300, -300]


def test_spending_takes_the_oldest_lots_first_across_lots(world):
    w = world
    now = utcnow()
    with w.services.sessions.begin() as s:
        for n, points in enumerate((100, 50, 200)):
            loyalty.credit(s, w.services.settings, "C2", points, "first_review", f"lot-{n}", now + timedelta(seconds=n))
        loyalty.debit(s, "C2", 120, "redemption", "order:a", now)  # 100 of the first lot, 20 of the second
    with w.services.sessions.begin() as s:
        loyalty.debit(s, "C2", 100, "redemption", "order:b", now)
    with w.services.sessions() as s:
        lots = s.execute(select(PointsEntry.reference, PointsEntry.remaining).where(
            PointsEntry.customer_id == "C2", PointsEntry.kind == "first_review").order_by(PointsEntry.id)).all()
        assert [tuple(r) for r in lots] == [("lot-0", 0), ("lot-1", 0), ("lot-2", 130)]
        assert loyalty.balance_mismatches(s) == []
