"""Group buys and referrals through the API, on PostgreSQL and SQLite; a group's size under
concurrent joiners on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select, update

from commerce_api.schema import GroupBuy, Order, PointsEntry
from tests.test_commerce_concurrency import _fire
from tests.test_commerce_flows import balanced, receive, stock
from tests.test_loyalty_marketing import _key, _members, _window


def _deal(w, size: int = 3, price: int = 5000) -> dict:
    return w.call("POST", "/group-deals", role="marketer", expect=201, json={
        "name": "three for less", "sku": "CASE-BLK", "group_price": price, "group_size": size, "hours_to_form": 2,
        **_window()}).json()


def _join(w, headers: dict, deal: int, group: int | None = None, quantity: int = 1, expect: int | None = 201):
    r = w.client.post("/orders", headers=headers, json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": quantity}],
        "group_buy": {"deal_id": deal} | ({"group_id": group} if group else {})})
    assert expect is None or r.status_code == expect, r.text
    return r


def test_a_group_forms_at_its_size_and_refuses_more(world):
    w = world
    receive(w, "RW-E", "CASE-BLK", 50)
    deal = _deal(w)["id"]
    members = {cid: _key(w, cid) for cid in _members(w, 4, "GB")}
    heads = list(members.values())
    opened = _join(w, heads[0], deal).json()
    assert opened["total"] == 5000 and opened["group_buy_id"] and opened["discounts"] == []
    group = opened["group_buy_id"]
    assert _join(w, heads[0], deal, group, expect=409).json()["error"]["code"] == "already_in_group"
    assert _join(w, heads[1], deal, group, quantity=2, expect=422).json()["error"]["code"] == "not_in_deal"
    _join(w, heads[1], deal, group)
    forming = w.call("GET", f"/group-deals/{deal}/groups", role="shopper", expect=200).json()["items"]
    assert [(g["id"], g["members"], g["places_left"]) for g in forming] == [(group, 2, 1)]
    _join(w, heads[2], deal, group)
    assert w.call("GET", f"/groups/{group}", role="shopper", expect=200).json()["status"] == "formed"
    assert _join(w, heads[3], deal, group, expect=409).json()["error"]["code"] == "group_closed"
    assert stock(w, "CASE-BLK", "RW-E")["reserved"] == 3  # the refused joiner reserved nothing
    assert w.call("GET", f"/group-deals/{deal}/groups", role="shopper", expect=200).json()["items"] == []


def test_a_group_not_full_by_its_deadline_fails_and_every_member_is_refunded(world):
    w = world
    receive(w, "RW-E", "CASE-BLK", 50)
    deal = _deal(w, size=4)["id"]
    heads = [_key(w, cid) for cid in _members(w, 3, "GF")]
    first = _join(w, heads[0], deal).json()
    group = first["group_buy_id"]
    second = _join(w, heads[1], deal, group).json()
    third = _join(w, heads[2], deal, group).json()
    w.call("POST", f"/orders/{third['id']}/cancel", headers=heads[2], json={}, expect=200)
    assert w.call("GET", f"/groups/{group}", role="shopper", expect=200).json()["members"] == 2  # seat given back
    w.call("POST", "/customers/GF000/stored-value/top-ups", role="service", expect=201,
           json={"amount": 100_000, "reference": "group"})
    w.call("POST", f"/orders/{first['id']}/payments", headers=heads[0], json={"method": "stored_value"}, expect=201)
    assert w.call("POST", "/admin/sweep-reservations", role="service", expect=200).json()["groups_failed"] == 0
    with w.services.sessions.begin() as s:  # the deadline passes
        s.execute(update(GroupBuy).where(GroupBuy.id == group).values(deadline=GroupBuy.created_at))
    assert w.call("POST", "/admin/sweep-reservations", role="service", expect=200).json()["groups_failed"] == 1
    paid = w.call("GET", f"/orders/{first['id']}", role="admin", expect=200).json()
    assert (paid["status"], paid["refunded"]) == ("cancelled", 5000)
    assert w.call("GET", f"/orders/{second['id']}", role="admin", expect=200).json()["status"] == "cancelled"
    assert w.call("GET", "/customers/GF000/stored-value", role="admin", expect=200).json()["balance"] == 100_000
    assert w.call("GET", f"/groups/{group}", role="shopper", expect=200).json()["status"] == "failed"
    assert _join(w, heads[2], deal, group, expect=409).json()["error"]["code"] == "group_closed"
    assert stock(w, "CASE-BLK", "RW-E")["reserved"] == 0 and stock(w, "CASE-BLK", "RW-E")["allocated"] == 0
    assert balanced(w)


def test_referrals_reward_both_sides_once_the_newcomers_first_order_completes(world):
    w = world
    receive(w, "RW-E", "CASE-BLK", 50)
    code = w.call("GET", "/customers/C1/invite-code", role="shopper", expect=200).json()["code"]
    assert w.call("GET", "/customers/C1/invite-code", role="shopper", expect=200).json()["code"] == code
    assert w.call("POST", "/customers/C1/referral", role="shopper", json={"code": code}).json()["error"]["code"] == \
        "self_referral"
    new = _members(w, 3, "NEW")
    # one person signs up twice (a new account on the same verified phone) to refer themself
    for n in (1, 2):
        w.call("POST", "/customers", role="service", expect=201,
               json={"id": f"TWIN{n}", "member_code": f"TWIN-{n}", "phone": "+8613800000001"})
    twin_code = w.call("GET", "/customers/TWIN1/invite-code", role="service", expect=200).json()["code"]
    r = w.call("POST", "/customers/TWIN2/referral", role="service", json={"code": twin_code})
    assert r.status_code == 422 and r.json()["error"]["code"] == "self_referral"  # one phone, one person
    ok = w.call("POST", f"/customers/{new[0]}/referral", headers=_key(w, new[0]), expect=201,
                json={"code": code, "device_id": "device-0001"}).json()
    assert (ok["referrer_id"], ok["status"]) == ("C1", "pending")
    again = w.call("POST", f"/customers/{new[0]}/referral", role="service", json={"code": code})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_referred"
    same_device = w.call("POST", f"/customers/{new[1]}/referral", role="service",
                         json={"code": code, "device_id": "device-0001"})
    assert same_device.status_code == 409 and same_device.json()["error"]["code"] == "device_referred"
    assert w.call("POST", "/loyalty/run", role="service", expect=200).json()["referrals_rewarded"] == 0  # signed up only
    order = w.client.post("/orders", headers=_key(w, new[0]), json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}]}).json()
    w.call("POST", f"/customers/{new[0]}/stored-value/top-ups", role="service", expect=201,
           json={"amount": order["total"], "reference": "ref"})
    w.call("POST", f"/orders/{order['id']}/payments", headers=_key(w, new[0]), json={"method": "stored_value"},
           expect=201)
    shipped = w.call("POST", f"/orders/{order['id']}/ship", role="service", expect=200).json()
    for sh in shipped["shipments"]:
        w.call("POST", f"/simulator/shipments/{sh['waybill']}", role="service", json={"status": "delivered"},
               expect=200)
    assert w.call("POST", "/loyalty/run", role="service", expect=200).json()["referrals_rewarded"] == 1
    assert w.call("POST", "/loyalty/run", role="service", expect=200).json()["referrals_rewarded"] == 0
    with w.services.sessions() as s:
        rewards = s.execute(select(PointsEntry.customer_id, PointsEntry.delta).where(PointsEntry.kind == "referral")
                            .order_by(PointsEntry.customer_id)).all()
    assert [tuple(r) for r in rewards] == [("C1", 500), (new[0], 500)]
    late = w.call("POST", f"/customers/{new[0]}/referral", role="service", json={"code": code})
    assert late.status_code == 409
    assert w.call("GET", "/customers/C1/invite-code", role="shopper", expect=200).json()["rewarded"] == 1


def test_concurrent_joiners_never_overfill_a_group(live_pg_world):
    w = live_pg_world
    receive(w, "RW-E", "CASE-BLK", 100)
    deal = _deal(w, size=5)["id"]
    heads = [_key(w, cid) for cid in _members(w, 31, "RACEG")]
    group = _join(w, heads[0], deal).json()["group_buy_id"]
    body = {"channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}],
            "group_buy": {"deal_id": deal, "group_id": group}}
    responses = asyncio.run(_fire(w.base_url, [("POST", "/orders", body, h) for h in heads[1:]]))
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 4, 409: 26}, codes
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"group_closed"}
    g = w.call("GET", f"/groups/{group}", role="shopper", expect=200).json()
    assert (g["members"], g["status"]) == (5, "formed")
    with w.services.sessions() as s:
        assert len(s.scalars(select(Order.id).where(Order.group_buy_id == group)).all()) == 5
    assert stock(w, "CASE-BLK", "RW-E")["reserved"] == 5
