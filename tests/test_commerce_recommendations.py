"""Recommendations through the commerce API: the pipeline's lists, filtered by this database at serve time."""

from __future__ import annotations

from serving.live import LiveSnapshot
from tests.test_commerce_flows import receive


def test_recommendations_respect_listing_channel_stock_and_cart(world):
    w = world  # its snapshot: tests/commerce_fixtures.write_recommendation_snapshot
    url = "/customers/C1/recommendations"
    receive(w, "S1", "CASE-BLK", 5)
    receive(w, "S1", "MILK-1L", 5)
    receive(w, "RW-E", "PHONE-WHT-256", 3)  # at the warehouse above the store: deliverable
    receive(w, "S3", "PHONE-BLK-128", 3)  # in another region only
    got = w.call("GET", url, role="shopper", params={"location_id": "S1", "channel": "app"}, expect=200).json()
    assert got["source"] == "personal"
    assert got["items"] == ["CASE-BLK", "PHONE-WHT-256"]  # milk is not sold in the app; the black phone not here
    at_till = w.call("GET", url, role="service", params={"location_id": "S1", "channel": "store_pos"}).json()
    assert at_till["items"] == ["MILK-1L", "CASE-BLK", "PHONE-WHT-256"]
    in_cart = w.call("GET", url, role="service", params={"location_id": "S1", "channel": "app", "cart": ["CASE-BLK"]})
    assert in_cart.json()["items"] == ["PHONE-WHT-256"]
    w.call("PATCH", "/products/P-CASE", role="marketer", json={"listed": False}, expect=200)
    assert "CASE-BLK" not in w.call("GET", url, role="service", params={"location_id": "S1"}).json()["items"]
    # a guest who viewed the black phone: its similar items first, then the region's popular ones
    guest = w.call("GET", "/recommendations", role="shopper", expect=200,
                   params={"viewed": ["PHONE-BLK-128"], "region": "east", "location_id": "S1", "n": 3}).json()
    assert guest["source"] == "cold_start" and guest["items"] == ["MILK-1L", "PHONE-WHT-256"]


def test_recommendations_wait_for_the_pipeline(world, tmp_path):
    w = world
    w.services.serving = LiveSnapshot(tmp_path / "not_built" / "published")  # nothing published there
    assert w.call("GET", "/health").json()["serving_version"] is None
    r = w.call("GET", "/customers/C1/recommendations", role="service")
    assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready"


def test_recommendations_are_private_and_validated(world):
    w = world
    assert w.call("GET", "/customers/C1/recommendations", role="shopper2").status_code == 403
    assert w.call("GET", "/customers/NOPE/recommendations", role="service").status_code == 404
    assert w.call("GET", "/customers/C1/recommendations", role="service", params={"n": 0}).status_code == 422
    assert w.call("GET", "/customers/C1/recommendations", role="service",
                  params={"channel": "fax"}).status_code == 422
    assert w.call("GET", "/customers/C1/recommendations", role="service",
                  params={"location_id": "NOWHERE"}).status_code == 404
