"""One member across channels: a store card merged into the online member of the same verified
phone keeps both histories, on PostgreSQL and SQLite."""

from __future__ import annotations

from commerce_api import loyalty
from tests.test_commerce_flows import balanced, receive
from tests.test_loyalty_marketing import _window

PHONE = "+8613900000002"


def test_a_store_card_merges_into_the_online_member_of_the_same_phone(world):
    w = world
    receive(w, "RW-E", "CASE-BLK", 10)
    w.call("POST", "/customers", role="service", expect=201,
           json={"id": "WEB1", "member_code": "WEB-1", "phone": PHONE, "region": "east"})
    w.call("POST", "/customers", role="staff_s1", expect=201,
           json={"id": "CARD1", "member_code": "CARD-1", "phone": PHONE, "home_store_id": "S1", "tier": "gold"})
    w.call("POST", "/customers", role="service", expect=201, json={"id": "OTHER", "member_code": "OTHER-1"})
    w.call("POST", "/customers/CARD1/stored-value/top-ups", role="service", expect=201,
           json={"amount": 3000, "reference": "card"})
    for cid in ("CARD1", "WEB1"):
        w.call("POST", f"/customers/{cid}/points/behaviour", role="service", expect=201, json={"kind": "sign_up"})
    order = w.call("POST", "/orders", role="service", expect=201, json={
        "channel": "app", "customer_id": "CARD1", "lines": [{"sku": "CASE-BLK", "quantity": 1}]}).json()
    both = w.call("POST", "/coupon-definitions", role="marketer", expect=201, json={
        "name": "both", **_window(), "rule": {"kind": "amount_off", "value": 100}}).json()["id"]
    only_card = w.call("POST", "/coupon-definitions", role="marketer", expect=201, json={
        "name": "card only", **_window(), "rule": {"kind": "amount_off", "value": 100}}).json()["id"]
    for definition, audience in ((both, ["WEB1", "CARD1"]), (only_card, ["CARD1"])):
        campaign = w.call("POST", "/campaigns", role="marketer", expect=201, json={
            "name": "c", "kind": "coupon", "coupon_definition_id": definition, **_window(),
            "audience": {"uploaded_list": True}}).json()["id"]
        w.call("POST", f"/campaigns/{campaign}/launch", role="marketer", expect=200, json={"members": audience})

    card_app = w.call("POST", "/api-keys", expect=201, json={"role": "shopper", "customer_id": "CARD1"}).json()["key"]
    card_app = {"Authorization": f"Bearer {card_app}"}
    assert w.client.get("/customers/WEB1/points", headers=card_app).status_code == 403  # not theirs yet
    body = {"other_id": "CARD1", "phone": PHONE}
    assert w.call("POST", "/customers/WEB1/merge", role="staff_s3", json=body).status_code == 403
    mismatch = w.call("POST", "/customers/WEB1/merge", role="service", json={**body, "other_id": "OTHER"})
    assert mismatch.status_code == 422 and mismatch.json()["error"]["code"] == "phone_mismatch"
    merged = w.call("POST", "/customers/WEB1/merge", role="staff_s1", json=body, expect=200).json()
    assert (merged["orders"], merged["coupons"], merged["points"], merged["stored_value"], merged["api_keys"]) == (
        1, 1, 100, 3000, 1)
    # the card's app key now acts for the member that remains
    assert w.client.get("/customers/WEB1/points", headers=card_app).status_code == 200
    survivor = merged["customer"]
    assert (survivor["id"], survivor["points"], survivor["stored_value"], survivor["tier"]) == ("WEB1", 200, 3000,
                                                                                                  "gold")
    assert w.call("GET", f"/orders/{order['id']}", role="admin", expect=200).json()["customer_id"] == "WEB1"
    assert w.call("GET", "/till/members/CARD-1", role="staff_s1", expect=200).json()["id"] == "WEB1"
    card = w.call("GET", "/customers/CARD1", role="admin", expect=200).json()
    assert (card["points"], card["stored_value"], card["merged_into"]) == (0, 0, "WEB1")
    coupons = w.call("GET", "/customers/WEB1/coupons", role="admin", expect=200).json()["items"]
    assert sorted(c["definition"]["id"] for c in coupons) == sorted([both, only_card])
    again = w.call("POST", "/customers/WEB1/merge", role="service", json=body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_merged"
    with w.services.sessions() as s:
        assert loyalty.balance_mismatches(s) == []
    assert balanced(w)
