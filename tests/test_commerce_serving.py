"""What the platform knows, served by the commerce API from the live published version: the version
in a header and at /health, related items, member profiles, forecasts, replenishment, segments."""

from __future__ import annotations

import polars as pl

from serving import published
from tests.commerce_fixtures import serving_frames
from tests.test_commerce_flows import receive

KNOWN = {"MILK-1L", "CASE-BLK", "PHONE-WHT-256", "PHONE-BLK-128"}


def test_a_new_version_is_served_without_a_restart_and_named_in_every_answer(world):
    w = world
    assert w.call("GET", "/health", expect=200).json()["serving_version"] == 1
    r = w.call("GET", "/customers/C1/recommendations", role="service", expect=200)
    assert r.headers["X-Serving-Version"] == "1" and r.json()["items"][0] == "MILK-1L"
    frames = serving_frames()
    frames["customer_recommendations"] = frames["customer_recommendations"].with_columns(rank=5 - pl.col("rank"))
    assert published.publish(w.services.settings.published_dir, frames, KNOWN).live
    r = w.call("GET", "/customers/C1/recommendations", role="service", expect=200)
    assert r.headers["X-Serving-Version"] == "2" and r.json()["items"][0] == "PHONE-BLK-128"
    assert w.call("GET", "/health").json()["serving_version"] == 2
    published.promote(w.services.settings.published_dir, 1)  # `smartmall serving rollback 1`
    r = w.call("GET", "/customers/C1/recommendations", role="service", expect=200)
    assert r.headers["X-Serving-Version"] == "1" and r.json()["items"][0] == "MILK-1L"


def test_related_items_are_in_stock_at_the_callers_location_and_visible_in_the_channel(world):
    w = world
    receive(w, "S1", "CASE-BLK", 5)
    receive(w, "S1", "MILK-1L", 5)
    receive(w, "S3", "PHONE-WHT-256", 2)  # another region only
    url = "/products/PHONE-BLK-128/related"
    together = w.call("GET", url, role="staff_s1", expect=200).json()  # staff: their own store
    assert together["kind"] == "bought_together" and together["location_id"] == "S1"
    assert together["items"] == ["CASE-BLK"]  # the white phone is not stocked at S1 or above it
    assert w.call("GET", url, role="service", params={"location_id": "S3"}).json()["items"] == ["PHONE-WHT-256"]
    similar = w.call("GET", url, role="service", params={"kind": "similar", "location_id": "S1"}).json()
    assert similar["items"] == ["CASE-BLK", "MILK-1L"]
    in_app = w.call("GET", url, role="service", params={"kind": "similar", "location_id": "S1", "channel": "app"})
    assert in_app.json()["items"] == ["CASE-BLK"]  # milk is not sold in the app
    assert w.call("GET", "/products/NOPE/related", role="service").status_code == 404
    assert w.call("GET", url, role="service", params={"kind": "cheaper"}).status_code == 422


def test_a_profile_joins_the_models_view_with_this_databases_tier_points_and_orders(world):
    w = world
    receive(w, "S1", "CASE-BLK", 5)
    order = w.call("POST", "/orders", role="shopper", expect=201, json={
        "channel": "mini_program", "fulfillment": "pickup", "store_id": "S1",
        "lines": [{"sku": "CASE-BLK", "quantity": 1}]}).json()
    r = w.call("GET", "/customers/C1/profile", role="shopper", expect=200)
    assert r.headers["X-Serving-Version"] == "1"
    p = r.json()
    assert p["tier"] == "member" and p["serving_version"] == 1
    assert p["published"]["rfm_segment"] == "Champions" and p["published"]["churn_risk_band"] == "low"
    assert p["published"]["tags"] == ["promotion_sensitive", "uses_store_pickup", "repurchaser"]
    assert p["published"]["last_order_at"].endswith("Z") and p["published"]["winback"] is False
    assert p["coupon"]["coupon_code"] == "MEMBER10" and p["coupon"]["send"] is True
    assert [o["id"] for o in p["last_orders"]] == [order["id"]]
    # C2: the model could not value them (NaN) and they are on the win-back list
    p2 = w.call("GET", "/customers/C2/profile", role="marketer", expect=200).json()
    assert p2["published"]["clv_365d"] is None and p2["published"]["winback"] is True and p2["coupon"] is None
    # C3 joined after the live version: this database's part only
    assert w.call("GET", "/customers/C3/profile", role="marketer", expect=200).json()["published"] is None
    assert w.call("GET", "/customers/C1/profile", role="shopper2").status_code == 403
    assert w.call("GET", "/customers/C1/profile", role="service").status_code == 403
    assert w.call("GET", "/customers/C1/profile", role="staff_s1").status_code == 403  # not their store's member
    assert w.call("GET", "/customers/NOPE/profile", role="marketer").status_code == 404


def test_forecasts_and_replenishment_for_store_managers_and_buyers(world):
    w = world
    weeks = w.call("GET", "/forecasts", role="staff_s1", params={"sku": "MILK-1L"}, expect=200).json()["items"]
    assert [(x["location_id"], x["week_start"], x["forecast_units"]) for x in weeks] == [
        ("S1", "2026-01-05", 30.0), ("S1", "2026-01-12", 28.0)]
    assert all(x["lower_95_units"] <= x["lower_units"] <= x["forecast_units"] <= x["upper_units"] for x in weeks)
    everywhere = w.call("GET", "/forecasts", role="service", params={"sku": "CASE-BLK"}).json()["items"]
    assert [x["location_id"] for x in everywhere] == ["S2"]
    assert w.call("GET", "/forecasts", role="staff_s1", params={"sku": "CASE-BLK", "location_id": "S2"}
                  ).status_code == 403
    own = w.call("GET", "/replenishment", role="staff_s1", expect=200).json()
    assert [(x["sku"], x["action"], x["suggested_quantity"]) for x in own["items"]] == [("MILK-1L", "order", 46.0)]
    every = w.call("GET", "/replenishment", role="service").json()
    assert every["total"] == 2 and every["items"][0]["days_of_cover"] < every["items"][1]["days_of_cover"]
    assert w.call("GET", "/replenishment", role="service", params={"action": "order"}).json()["total"] == 1
    assert w.call("GET", "/replenishment", role="marketer").status_code == 403


def test_segments_are_saved_rules_over_the_published_profiles(world):
    w = world
    rule = {"churn_bands": ["high"]}
    preview = w.call("POST", "/segments", role="marketer", expect=200,
                     json={"name": "at-risk", "rule": rule, "preview": True}).json()
    assert preview == {"name": "at-risk", "version": None, "members": 1, "serving_version": 1}
    assert w.call("GET", "/segments", role="marketer").json()["items"] == []  # a preview saves nothing
    saved = w.call("POST", "/segments", role="marketer", expect=201,
                   json={"name": "at-risk", "rule": rule, "note": "win-back, January"}).json()
    assert saved["version"] == 1 and saved["members"] == 1
    again = w.call("POST", "/segments", role="marketer", expect=201,
                   json={"name": "at-risk", "rule": {"churn_bands": ["high", "low"]}}).json()
    assert again["version"] == 2 and again["members"] == 2
    listed = w.call("GET", "/segments", role="service", expect=200).json()["items"]
    assert [(s["name"], s["version"], s["members_at_save"]) for s in listed] == [("at-risk", 2, 2)]
    members = w.call("GET", "/segments/at-risk/members", role="marketer", expect=200).json()
    assert members["total"] == 2 and members["items"][0]["customer_id"] == "C1"  # the most valuable first
    first = w.call("GET", "/segments/at-risk/members", role="marketer", params={"version": 1}).json()
    assert [m["customer_id"] for m in first["items"]] == ["C2"]
    for bad in ({"tags": ["rich"]}, {"min_orders": -1}, {"colour": "red"}, {"bought_category": "Phones"}):
        r = w.call("POST", "/segments", role="marketer", json={"name": "bad", "rule": bad})
        assert r.status_code == 422, (bad, r.text)
    assert w.call("POST", "/segments", role="marketer", json={"name": "Bad Name!", "rule": {}}).status_code == 422
    assert w.call("GET", "/segments/nope/members", role="marketer").status_code == 404
    assert w.call("GET", "/segments/at-risk/members", role="marketer", params={"version": 9}).status_code == 404
