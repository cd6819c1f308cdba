"""The recommendation routes' shelf (``commerce_api.shelf``): answers from memory within its age, shows a
change made through another worker once that age has passed, reads ahead of expiry, and reads once per
location however many requests miss at the same moment."""

from __future__ import annotations

import asyncio
import time

from commerce_api import inventory
from commerce_api.db import transaction
from commerce_api.shelf import Shelf
from tests.test_commerce_flows import receive

URL = "/customers/C1/recommendations"
AT_S1 = {"location_id": "S1", "channel": "app"}


def _shelf(w, max_age: float) -> Shelf:
    w.services.shelf = Shelf(w.services.reads.kw["bind"], max_age)
    return w.services.shelf


def _items(w, **params) -> list[str]:
    return w.call("GET", URL, role="service", params={**AT_S1, **params}, expect=200).json()["items"]


def _sell_out_elsewhere(w, sku: str) -> None:
    """A stock count of 0 at S1 written as another API worker would: this worker's shelf is not told."""
    with transaction(w.services.sessions) as s:
        inventory.count(s, "S1", sku, 0, "shared", "counted by another worker")


def test_a_sell_out_through_another_worker_shows_once_the_shelf_age_has_passed(world):
    w = world
    receive(w, "S1", "CASE-BLK", 5)
    receive(w, "RW-E", "PHONE-WHT-256", 3)
    max_age = 0.6
    shelf = _shelf(w, max_age)
    assert _items(w) == ["CASE-BLK", "PHONE-WHT-256"]
    reads = shelf.reads
    assert _items(w) == ["CASE-BLK", "PHONE-WHT-256"] and shelf.reads == reads  # from memory
    sold_out_at = time.monotonic()
    _sell_out_elsewhere(w, "CASE-BLK")
    while "CASE-BLK" in _items(w):
        assert time.monotonic() - sold_out_at < max_age + 0.5, "the shelf kept a sold-out SKU past its age"
        time.sleep(0.05)
    assert _items(w) == ["PHONE-WHT-256"]


def test_with_no_age_every_request_reads_the_database(world):
    w = world
    receive(w, "S1", "CASE-BLK", 5)
    shelf = _shelf(w, 0)
    assert _items(w) == ["CASE-BLK"]
    _sell_out_elsewhere(w, "CASE-BLK")
    assert _items(w) == [] and shelf.reads == 2 and shelf.reads_ahead == 0


def test_a_busy_location_is_read_ahead_and_never_expires_under_a_request(world):
    w = world
    receive(w, "S1", "CASE-BLK", 5)
    shelf = _shelf(w, 0.6)
    first = time.monotonic()
    _items(w)
    assert shelf.misses == 1
    time.sleep(0.35)  # past half the age: answered from memory, and read again behind the answer
    assert _items(w) == ["CASE-BLK"] and shelf.misses == 1 and shelf.reads_ahead == 1
    deadline = time.monotonic() + 5
    while shelf.reads < 2:
        assert time.monotonic() < deadline, "the read ahead never ran"
        time.sleep(0.01)
    time.sleep(max(0.0, first + 0.65 - time.monotonic()))  # the first read has expired; the read ahead has not
    assert _items(w) == ["CASE-BLK"] and shelf.misses == 1


def test_requests_that_miss_together_wait_for_one_read(world):
    w = world
    receive(w, "S1", "CASE-BLK", 5)
    shelf = _shelf(w, 5.0)
    skus = ["CASE-BLK", "MILK-1L", "PHONE-WHT-256", "PHONE-BLK-128"]

    async def many() -> list[set[str]]:
        return await asyncio.gather(*(shelf.showable_async(skus, "app", "S1") for _ in range(20)))

    answers = asyncio.run(many())
    assert answers == [{"CASE-BLK"}] * 20
    assert shelf.reads == 1 and shelf.misses == 1


def test_the_hot_route_validates_and_documents_its_query_like_any_other(world):
    w = world
    receive(w, "S1", "CASE-BLK", 5)
    receive(w, "RW-E", "PHONE-WHT-256", 3)
    assert _items(w, cart=["CASE-BLK", "PHONE-WHT-256"]) == []  # a repeated parameter is a list
    assert _items(w, n=1, unknown="ignored") == ["CASE-BLK"]
    for bad in ({"n": "ten"}, {"n": 51}, {"variant": "old"}, {"cart": ["x y"]}, {"cart": [f"S{i}" for i in range(101)]}):
        r = w.call("GET", URL, role="service", params=bad)
        assert r.status_code == 422, bad
        assert r.json()["error"]["details"][0]["loc"][:2] == ["query", next(iter(bad))]
    spec = w.call("GET", "/openapi.json", expect=200).json()
    params = {p["name"]: p for p in spec["paths"]["/customers/{customer_id}/recommendations"]["get"]["parameters"]}
    assert set(params) == {"customer_id", "n", "variant", "channel", "location_id", "cart", "viewed"}
    assert params["n"]["schema"]["maximum"] == 50 and params["cart"]["schema"]["type"] == "array"
    assert params["customer_id"]["in"] == "path" and params["viewed"]["in"] == "query"
