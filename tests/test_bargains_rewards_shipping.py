"""Bargains (砍价), points rewards (积分兑换), delivery fees with per-tier free shipping, staff-only
and minimum-quantity coupons, and group-buy orders that wait for their group: through the API on
PostgreSQL and SQLite; concurrent bargain helpers on a real PostgreSQL server."""

from __future__ import annotations

import asyncio

import duckdb
import pytest
from sqlalchemy import func, select

from commerce_api import loyalty
from commerce_api.schema import BargainHelp
from pipelines.commerce_ingest import commerce_engine, ingest_commerce
from tests.commerce_fixtures import make_world
from tests.test_commerce_concurrency import _fire
from tests.test_commerce_flows import balanced, receive, stock
from tests.test_loyalty_marketing import _key, _members, _window


def _bargain_deal(w, floor: int = 5000, cuts: tuple[int, int] = (500, 1500)) -> int:
    return w.call("POST", "/bargain-deals", role="marketer", expect=201, json={
        "name": "cut the case", "sku": "CASE-BLK", "floor_price": floor, "min_cut": cuts[0], "max_cut": cuts[1],
        "hours_to_finish": 24, **_window()}).json()["id"]


def _code(r) -> str:
    return r.json()["error"]["code"]


def test_friends_cut_a_bargain_to_its_floor_and_the_member_buys_it_once(world):
    w = world
    receive(w, "RW-E", "CASE-BLK", 10)
    deal = _bargain_deal(w)
    bargain = w.call("POST", "/bargains", role="shopper", expect=201, json={"deal_id": deal}).json()
    assert (bargain["price"], bargain["start_price"], bargain["status"]) == (9900, 9900, "open")
    assert _code(w.call("POST", "/bargains", role="shopper", expect=409, json={"deal_id": deal})) == "bargain_open"
    b = bargain["id"]
    assert _code(w.call("POST", f"/bargains/{b}/help", role="shopper", expect=422, json={})) == "self_help"
    first = w.call("POST", f"/bargains/{b}/help", role="shopper2", expect=201, json={}).json()
    assert 500 <= first["cut"] <= 1500 and first["bargain"]["price"] == 9900 - first["cut"]
    assert _code(w.call("POST", f"/bargains/{b}/help", role="shopper2", expect=409, json={})) == "already_helped"
    price, cuts = first["bargain"]["price"], [first["cut"]]
    for cid in _members(w, 8, "FR"):
        r = w.client.post(f"/bargains/{b}/help", headers=_key(w, cid), json={})
        if r.status_code == 409:
            assert _code(r) == "at_floor"
            continue
        assert r.status_code == 201, r.text
        cuts.append(r.json()["cut"])
        assert r.json()["bargain"]["price"] == price - cuts[-1] >= 5000
        price = r.json()["bargain"]["price"]
    assert price == 5000 == 9900 - sum(cuts)  # 8 friends at >= 500 each reach the floor, never pass it

    # only the owner buys it, one unit alone, at the price reached
    other = w.client.post("/orders", headers=w.h("shopper2"), json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}], "bargain_id": b})
    assert other.status_code == 404
    two = w.client.post("/orders", headers=w.h("shopper"), json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 2}], "bargain_id": b})
    assert two.status_code == 422 and _code(two) == "not_in_deal"
    order = w.call("POST", "/orders", role="shopper", expect=201, json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}], "bargain_id": b}).json()
    assert (order["total"], order["bargain_id"], order["lines"][0]["price_rule"]) == (5000, b, f"bargain:{b}")
    again = w.client.post("/orders", headers=w.h("shopper"), json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}], "bargain_id": b})
    assert again.status_code == 409 and _code(again) == "bargain_closed"
    assert w.call("GET", f"/bargains/{b}", role="shopper2", expect=200).json()["status"] == "used"
    w.call("POST", f"/orders/{order['id']}/cancel", role="shopper", expect=200, json={})
    assert w.call("GET", f"/bargains/{b}", role="shopper", expect=200).json()["status"] == "open"  # given back
    assert w.call("POST", "/orders", role="shopper", expect=201, json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}], "bargain_id": b}).json()["total"] == 5000
    assert balanced(w)
    # the pipeline copies the deal, the bargain at its latest price and every friend's cut
    con, engine = duckdb.connect(), commerce_engine(w.services.settings.database_url)
    try:
        read = ingest_commerce(con, engine)
        assert (read["bargain_deals"], read["bargains"], read["bargain_helps"]) == (1, 1, len(cuts))
        assert con.execute("SELECT price, helpers, status FROM raw.commerce_bargains").fetchall() == [
            (5000, len(cuts), "used")]
        assert con.execute("SELECT sum(cut) FROM raw.commerce_bargain_helps").fetchall() == [(9900 - 5000,)]
    finally:
        con.close()
        engine.dispose()


def test_a_points_reward_is_paid_in_points_and_a_return_gives_its_share_back(world):
    w = world
    receive(w, "S1", "CASE-BLK", 10)
    receive(w, "S1", "MILK-1L", 10)
    w.call("POST", "/customers/C1/points/behaviour", role="service", expect=201,
           json={"kind": "referral", "reference": "gift", "points": 2500})
    reward = w.call("POST", "/points-rewards", role="marketer", expect=201, json={
        "name": "a case for 1,000 points", "sku": "CASE-BLK", "points": 1000, "max_quantity": 2, **_window()}).json()
    assert [r["id"] for r in w.call("GET", "/points-rewards", role="shopper", expect=200).json()["items"]] == [reward["id"]]
    body = {"channel": "mini_program", "fulfillment": "pickup", "store_id": "S1", "reward_id": reward["id"]}
    too_many = w.client.post("/orders", headers=w.h("shopper"), json={**body, "lines": [{"sku": "CASE-BLK", "quantity": 3}]})
    assert too_many.status_code == 422 and _code(too_many) == "not_in_reward"
    guest = w.client.post("/orders", headers=w.h("service"), json={**body, "lines": [{"sku": "CASE-BLK", "quantity": 1}]})
    assert guest.status_code == 422 and _code(guest) == "member_required"
    # with milk paid in money beside it: the reward line costs nothing, the milk its price
    order = w.call("POST", "/orders", role="shopper", expect=201, json={
        **body, "lines": [{"sku": "CASE-BLK", "quantity": 2}, {"sku": "MILK-1L", "quantity": 1}]}).json()
    assert (order["total"], order["points_redeemed"]) == (1290, 2000)
    rewarded = [d for d in order["discounts"] if d["kind"] == "reward"]
    assert sum(d["amount"] for d in rewarded) == 19800 and sum(d["points"] for d in rewarded) == 2000
    assert w.call("GET", "/customers/C1/points", role="shopper", expect=200).json()["balance"] == 500
    short = w.client.post("/orders", headers=w.h("shopper"), json={**body, "lines": [{"sku": "CASE-BLK", "quantity": 1}]})
    assert short.status_code == 409 and _code(short) == "insufficient_points"
    assert stock(w, "CASE-BLK", "S1")["reserved"] == 2  # the refused order holds nothing

    # nothing to pay: paid and allocated as placed
    w.call("POST", f"/orders/{order['id']}/cancel", role="shopper", expect=200, json={})
    assert w.call("GET", "/customers/C1/points", role="shopper", expect=200).json()["balance"] == 2500
    free = w.call("POST", "/orders", role="shopper", expect=201, json={
        **body, "lines": [{"sku": "CASE-BLK", "quantity": 2}]}).json()
    assert (free["total"], free["status"], free["paid"]) == (0, "allocated", 0)
    w.call("POST", f"/orders/{free['id']}/ready-for-pickup", role="staff_s1", expect=200)
    w.call("POST", f"/orders/{free['id']}/picked-up", role="staff_s1", expect=200)
    back = w.call("POST", f"/orders/{free['id']}/returns", role="shopper", expect=201, json={
        "lines": [{"line_number": free["lines"][0]["line_number"], "quantity": 1}]}).json()
    assert (back["status"], back["amount"], back["points"]) == ("approved", 0, 1000)
    assert w.call("GET", "/customers/C1/points", role="shopper", expect=200).json()["balance"] == 500 + 1000
    with w.services.sessions() as s:
        assert loyalty.balance_mismatches(s) == []
    assert balanced(w)
    con, engine = duckdb.connect(), commerce_engine(w.services.settings.database_url)
    try:
        assert ingest_commerce(con, engine)["points_rewards"] == 1
        assert con.execute("SELECT sku, points FROM raw.commerce_points_rewards").fetchall() == [("CASE-BLK", 1000)]
    finally:
        con.close()
        engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def fee_world(request, tmp_path):
    """The app with a delivery fee of 8.00."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else f"sqlite:///{tmp_path / 'c.db'}"
    w = make_world(url, tmp_path, delivery_fee=800)
    yield w
    w.client.close()
    w.services.sessions.kw["bind"].dispose()


def test_delivery_pays_a_fee_below_the_tiers_free_shipping_threshold(fee_world):
    w = fee_world
    receive(w, "RW-E", "CASE-BLK", 20)
    receive(w, "RW-E", "MILK-1L", 20)
    receive(w, "S1", "MILK-1L", 20)

    def order(role: str, lines, expect=201, **extra):
        return w.call("POST", "/orders", role=role, expect=expect, json={
            "channel": "mini_program", "lines": [{"sku": s, "quantity": q} for s, q in lines], **extra}).json()

    # C1 is a 'member': free from 99.00 of goods (tier_rules), so one case (99.00) ships free, milk does not
    assert (order("shopper", [("CASE-BLK", 1)])["shipping_fee"]) == 0
    milk = order("shopper", [("MILK-1L", 1)])
    assert (milk["shipping_fee"], milk["subtotal"], milk["total"]) == (800, 1290, 2090)
    # a coupon that takes the goods under the threshold brings the fee back
    w.call("POST", "/coupon-definitions", role="marketer", expect=201, json={
        "code": "TENPCT", "name": "10 %", **_window(), "rule": {"kind": "percent_off", "value": 10}})
    coupon = order("shopper", [("CASE-BLK", 1)], coupon_code="TENPCT")
    assert (coupon["shipping_fee"], coupon["total"]) == (800, 8910 + 800)
    # C3 is gold (threshold 0): always free; a guest pays below the base tier's threshold; pickup never pays
    assert order("service", [("MILK-1L", 1)], customer_id="C3")["shipping_fee"] == 0
    assert order("service", [("MILK-1L", 1)])["shipping_fee"] == 800
    assert order("shopper", [("MILK-1L", 1)], fulfillment="pickup", store_id="S1")["shipping_fee"] == 0
    # a cancelled paid order refunds the fee too; a returned line does not
    w.call("POST", "/customers/C1/stored-value/top-ups", role="service", expect=201,
           json={"amount": 100_000, "reference": "fee"})
    w.call("POST", f"/orders/{milk['id']}/payments", role="shopper", expect=201, json={"method": "stored_value"})
    cancelled = w.call("POST", f"/orders/{milk['id']}/cancel", role="shopper", expect=200, json={}).json()
    assert (cancelled["paid"], cancelled["refunded"]) == (2090, 2090)
    two = order("shopper", [("MILK-1L", 2)])
    assert two["total"] == 2580 + 800
    w.call("POST", f"/orders/{two['id']}/payments", role="shopper", expect=201, json={"method": "stored_value"})
    w.call("POST", f"/orders/{two['id']}/ship", role="service", expect=200)
    shipped = w.call("GET", f"/orders/{two['id']}", role="admin", expect=200).json()
    w.call("POST", f"/simulator/shipments/{shipped['shipments'][0]['waybill']}", role="service", expect=200,
           json={"status": "delivered"})
    back = w.call("POST", f"/orders/{two['id']}/returns", role="shopper", expect=201,
                  json={"lines": [{"line_number": 1, "quantity": 2}]}).json()
    assert back["status"] == "pending_review"  # fresh food: staff decide
    w.call("POST", f"/returns/{back['id']}/decision", role="service", expect=200, json={"approve": True})
    returned = w.call("GET", f"/orders/{two['id']}", role="admin", expect=200).json()
    assert back["amount"] == 2580 and (returned["refunded"], returned["status"]) == (2580, "returned")
    assert balanced(w)


def test_staff_only_and_minimum_quantity_coupons(world):
    w = world
    receive(w, "S1", "CASE-BLK", 20)
    w.call("POST", "/coupon-definitions", role="marketer", expect=201, json={
        "code": "MANAGER", "name": "manager's 20 off", **_window(), "staff_only": True, "per_customer_limit": None,
        "rule": {"kind": "amount_off", "value": 2000}})
    w.call("POST", "/coupon-definitions", role="marketer", expect=201, json={
        "code": "THREEUP", "name": "3 or more: 15 %", **_window(), "rule": {"kind": "percent_off", "value": 15,
                                                                                  "min_quantity": 3}})
    online = w.client.post("/orders", headers=w.h("shopper"), json={
        "channel": "app", "fulfillment": "pickup", "store_id": "S1", "coupon_code": "MANAGER",
        "lines": [{"sku": "CASE-BLK", "quantity": 1}]})
    assert online.status_code == 422 and _code(online) == "coupon_not_applicable"
    till = w.call("POST", "/orders", role="staff_s1", expect=201, json={
        "channel": "store_pos", "fulfillment": "in_store", "store_id": "S1", "coupon_code": "MANAGER",
        "lines": [{"sku": "CASE-BLK", "quantity": 1}]}).json()
    assert till["total"] == 9900 - 2000
    two = w.client.post("/orders", headers=w.h("shopper"), json={
        "channel": "app", "fulfillment": "pickup", "store_id": "S1", "coupon_code": "THREEUP",
        "lines": [{"sku": "CASE-BLK", "quantity": 2}]})
    assert two.status_code == 422 and "at least 3" in two.json()["error"]["message"]
    three = w.call("POST", "/orders", role="shopper", expect=201, json={
        "channel": "app", "fulfillment": "pickup", "store_id": "S1", "coupon_code": "THREEUP",
        "lines": [{"sku": "CASE-BLK", "quantity": 3}]}).json()
    assert three["total"] == 29700 - 4455


def test_a_group_buy_order_ships_only_once_its_group_is_full(world):
    w = world
    receive(w, "RW-E", "CASE-BLK", 10)
    deal = w.call("POST", "/group-deals", role="marketer", expect=201, json={
        "name": "pair", "sku": "CASE-BLK", "group_price": 5000, "group_size": 2, "hours_to_form": 2,
        **_window()}).json()["id"]
    till = w.client.post("/orders", headers=w.h("staff_s1"), json={
        "channel": "store_pos", "fulfillment": "in_store", "store_id": "S1", "customer_id": "C1",
        "lines": [{"sku": "CASE-BLK", "quantity": 1}], "group_buy": {"deal_id": deal}})
    assert till.status_code == 422 and _code(till) == "invalid_fulfillment"
    first = w.call("POST", "/orders", role="shopper", expect=201, json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}], "group_buy": {"deal_id": deal}}).json()
    w.call("POST", "/customers/C1/stored-value/top-ups", role="service", expect=201,
           json={"amount": 10_000, "reference": "group"})
    w.call("POST", f"/orders/{first['id']}/payments", role="shopper", expect=201, json={"method": "stored_value"})
    early = w.client.post(f"/orders/{first['id']}/ship", headers=w.h("service"))
    assert early.status_code == 409 and _code(early) == "group_not_formed"
    w.call("POST", "/orders", role="shopper2", expect=201, json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}],
        "group_buy": {"deal_id": deal, "group_id": first["group_buy_id"]}})
    assert w.call("POST", f"/orders/{first['id']}/ship", role="service", expect=200).json()["status"] == "shipped"
    assert balanced(w)


def test_concurrent_friends_never_cut_a_bargain_below_its_floor(live_pg_world):
    w = live_pg_world
    deal = _bargain_deal(w, floor=3000, cuts=(400, 900))
    b = w.call("POST", "/bargains", role="shopper", expect=201, json={"deal_id": deal}).json()["id"]
    heads = [_key(w, cid) for cid in _members(w, 30, "CUT")]
    responses = asyncio.run(_fire(w.base_url, [("POST", f"/bargains/{b}/help", {}, h) for h in heads]))
    codes = sorted({r.status_code for r in responses})
    assert set(codes) <= {201, 409}, codes
    cuts = [r.json()["cut"] for r in responses if r.status_code == 201]
    final = w.call("GET", f"/bargains/{b}", role="shopper", expect=200).json()
    assert final["price"] == 9900 - sum(cuts) == 3000  # 30 friends at >= 400 reach the floor of 3,000
    assert final["helpers"] == len(cuts)
    assert all(r.json()["error"]["code"] == "at_floor" for r in responses if r.status_code == 409)
    with w.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(BargainHelp)) == len(cuts)
