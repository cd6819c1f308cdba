"""The authorisation matrix: every route of the API x every kind of caller, allowed or denied.

Each route has a rule here: the callers allowed, and how to build a valid request against a fresh
target owned by member C1 and store S1 (an order, a cart, a return, a waybill). The test calls it
as each caller: an allowed caller must get a 2xx, a denied one 401 (no key) or 403. A route the
app has and this table does not fails the test, so a new route cannot ship without a rule.

Callers: anonymous; ``shopper`` (C1, the owner); ``shopper2`` (another member, C2); ``staff_s1``
(the target's store) and ``staff_s3`` (another store); ``marketer``; ``service``; ``admin``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from fastapi.routing import APIRoute

from commerce_api.db import transaction
from commerce_api.schema import Customer
from tests.commerce_fixtures import World, world_on_own_database

CALLERS = ("anonymous", "shopper", "shopper2", "staff_s1", "staff_s3", "marketer", "service", "admin")
KEYED = frozenset(CALLERS) - {"anonymous"}
ORDER_PARTIES = frozenset({"shopper", "staff_s1", "service", "admin"})  # the member, the store, the back office
MEMBER_PARTIES = ORDER_PARTIES | {"marketer"}
_n = count(1)


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------- fresh targets (built as their owners)
def pickup_order(w: World, sku: str = "CASE-BLK") -> str:
    """C1's pickup order at S1, awaiting payment."""
    return w.call("POST", "/orders", role="shopper", expect=201, json={
        "channel": "mini_program", "fulfillment": "pickup", "store_id": "S1",
        "lines": [{"sku": sku, "quantity": 1}]}).json()["id"]


def paid(w: World, order_id: str) -> str:
    w.call("POST", f"/orders/{order_id}/payments", role="shopper", json={"method": "stored_value"}, expect=201)
    return order_id


def ready(w: World, sku: str = "CASE-BLK") -> str:
    order_id = paid(w, pickup_order(w, sku))
    w.call("POST", f"/orders/{order_id}/ready-for-pickup", role="staff_s1", expect=200)
    return order_id


def completed(w: World, sku: str = "CASE-BLK") -> str:
    order_id = ready(w, sku)
    w.call("POST", f"/orders/{order_id}/picked-up", role="staff_s1", expect=200)
    return order_id


def pending_return(w: World) -> int:
    """A return over the automatic-approval limit: it waits for a decision."""
    order_id = completed(w, "PHONE-BLK-128")
    r = w.call("POST", f"/orders/{order_id}/returns", role="shopper", expect=201,
               json={"lines": [{"line_number": 1, "quantity": 1}], "reason": "changed my mind"}).json()
    assert r["status"] == "pending_review", r
    return r["id"]


def paid_delivery(w: World) -> str:
    """C1's paid delivery order of a SKU only S1 stocks (so it ships from S1)."""
    order_id = w.call("POST", "/orders", role="shopper", expect=201, json={
        "channel": "app", "lines": [{"sku": "PHONE-WHT-256", "quantity": 1}]}).json()["id"]
    return paid(w, order_id)


def waybill(w: World) -> str:
    order = w.call("POST", f"/orders/{paid_delivery(w)}/ship", role="service", expect=200).json()
    return order["shipments"][0]["waybill"]


def provider_payment(w: World) -> str:
    order_id = pickup_order(w)
    return w.call("POST", f"/orders/{order_id}/payments", role="shopper", json={"method": "alipay"},
                  expect=201).json()["payment"]["id"]


def till_cart(w: World) -> str:
    """A cart S1's staff opened for C1 (so both the member and the store may act on it), one line in it."""
    cart_id = w.call("POST", "/carts", role="staff_s1", json={"channel": "mini_program", "customer_id": "C1"},
                     expect=201).json()["id"]
    w.call("PUT", f"/carts/{cart_id}/lines/CASE-BLK", role="staff_s1", json={"quantity": 1}, expect=200)
    return cart_id


def _window() -> dict:
    hour = next(_n)  # half-hour windows that never overlap (a SKU has one flash sale at a time)
    return {"starts_at": f"2030-01-{1 + hour // 24:02d}T{hour % 24:02d}:00:00Z",
            "ends_at": f"2030-01-{1 + hour // 24:02d}T{hour % 24:02d}:30:00Z"}


def member_of_s1(w: World) -> str:
    """C1, made a member of store S1 (their profile is for them, S1's staff, marketers and admins)."""
    with transaction(w.services.sessions) as s:
        s.get(Customer, "C1").home_store_id = "S1"
    return "C1"


def saved_segment(w: World) -> str:
    name = _uid("seg").lower()
    w.call("POST", "/segments", role="marketer", expect=201, json={"name": name, "rule": {"tiers": ["gold"]}})
    return name


def _deal(w: World) -> int:
    now = datetime.now(UTC)
    return w.call("POST", "/group-deals", role="marketer", expect=201, json={
        "name": "pair", "sku": "CASE-BLK", "group_price": 100, "group_size": 2, "hours_to_form": 1,
        "starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()}).json()["id"]


def open_group(w: World) -> int:
    """A group C1 opened (one place of two taken)."""
    w.call("POST", "/inventory/receipts", expect=201, json={"location_id": "RW-E",
                                                            "lines": [{"sku": "CASE-BLK", "quantity": 1}]})
    return w.call("POST", "/orders", role="shopper", expect=201, json={
        "channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}],
        "group_buy": {"deal_id": _deal(w)}}).json()["group_buy_id"]


def new_member_and_a_code(w: World) -> tuple[str, str]:
    """A member who just joined (to be referred) and another member's invite code."""
    invitee = _uid("NEW")
    w.call("POST", "/customers", role="service", expect=201, json={"id": invitee, "member_code": invitee})
    return invitee, w.call("GET", "/customers/C2/invite-code", role="service", expect=200).json()["code"]


def _referral(w: World) -> Request:
    invitee, code = new_member_and_a_code(w)
    return f"/customers/{invitee}/referral", {"json": {"code": code}}


def _merge(w: World) -> Request:
    """Two members of one phone (S1's): the second merges into the first."""
    phone, ids = f"+86{uuid.uuid4().int % 10**11:011d}", [_uid("M"), _uid("M")]
    for cid in ids:
        w.call("POST", "/customers", role="service", expect=201,
               json={"id": cid, "member_code": cid, "phone": phone, "home_store_id": "S1"})
    return f"/customers/{ids[0]}/merge", {"json": {"other_id": ids[1], "phone": phone}}


def _bargain_deal(w: World) -> int:
    now = datetime.now(UTC)
    return w.call("POST", "/bargain-deals", role="marketer", expect=201, json={
        "name": "cut", "sku": "CASE-BLK", "floor_price": 1, "min_cut": 1, "max_cut": 2, "hours_to_finish": 1,
        "starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()}).json()["id"]


def c3_bargain(w: World) -> int:
    """A bargain member C3 started (friends C1 and C2 may cut it)."""
    return w.call("POST", "/bargains", role="service", expect=201,
                  json={"deal_id": _bargain_deal(w), "customer_id": "C3"}).json()["id"]


def _campaign() -> dict:
    return {"name": "percent off", "kind": "percent_off", **_window(), "rule": {"kind": "percent_off", "value": 1}}


def draft_campaign(w: World) -> int:
    return w.call("POST", "/campaigns", role="marketer", expect=201, json=_campaign()).json()["id"]


# --------------------------------------------------------------------------------- the rules
Request = tuple[str, dict]  # concrete path, keyword arguments of the request (json=, params=)


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]
    build: Callable[[World], Request]


def rule(allowed, build: Callable[[World], Request]) -> Rule:
    return Rule(frozenset(allowed), build)


def _event() -> list[dict]:
    return [{"event_id": _uid("ev"), "event": "Product Viewed", "occurred_at": "2026-03-01T10:00:00Z",
             "anonymous_id": "anon-1", "sku": "CASE-BLK"}]


RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/health"): rule(CALLERS, lambda w: ("/health", {})),
    # catalogue: anyone with a key reads it; marketers (and integrations) change it
    ("POST", "/suppliers"): rule({"marketer", "service", "admin"}, lambda w: (
        "/suppliers", {"json": {"id": _uid("SUP"), "name": "Supplier"}})),
    ("POST", "/products"): rule({"marketer", "service", "admin"}, lambda w: (
        "/products", {"json": {"id": _uid("P"), "name": "Thing", "category": "Accessories",
                               "skus": [{"sku": _uid("SKU"), "list_price": 100}]}})),
    ("GET", "/products"): rule(KEYED, lambda w: ("/products", {})),
    ("GET", "/products/{product_id}"): rule(KEYED, lambda w: ("/products/P-CASE", {})),
    ("PATCH", "/products/{product_id}"): rule({"marketer", "admin"}, lambda w: (
        "/products/P-CASE", {"json": {"brand": "Acme"}})),
    ("PATCH", "/skus/{sku}"): rule({"marketer", "admin"}, lambda w: ("/skus/CASE-BLK", {"json": {"listed": True}})),
    ("PUT", "/skus/{sku}/regional-prices/{region}"): rule({"marketer", "admin"}, lambda w: (
        "/skus/CASE-BLK/regional-prices/north", {"json": {"price": 9800}})),
    ("POST", "/skus/{sku}/promotions"): rule({"marketer", "admin"}, lambda w: (
        "/skus/CASE-BLK/promotions", {"json": {"price": 8900, **_window()}})),
    ("POST", "/skus/{sku}/flash-sales"): rule({"marketer", "admin"}, lambda w: (
        "/skus/CASE-BLK/flash-sales", {"json": {"price": 5000, "per_customer_limit": 1, **_window()}})),
    ("GET", "/skus/{sku}/price"): rule(KEYED, lambda w: ("/skus/CASE-BLK/price", {"params": {"region": "east"}})),
    # locations
    ("POST", "/locations"): rule({"service", "admin"}, lambda w: (
        "/locations", {"json": {"id": _uid("S"), "kind": "store", "name": "New store", "parent_id": "RW-E"}})),
    ("GET", "/locations"): rule(KEYED, lambda w: ("/locations", {})),
    ("GET", "/locations/nearby"): rule(KEYED, lambda w: (
        "/locations/nearby", {"params": {"latitude": 31.23, "longitude": 121.47, "sku": "CASE-BLK"}})),
    ("GET", "/delivery-estimate"): rule(KEYED, lambda w: (
        "/delivery-estimate", {"params": {"sku": "CASE-BLK", "region": "east"}})),
    # members: staff sign them up at their store; a member sees only themselves
    ("POST", "/customers"): rule({"staff_s1", "service", "admin"}, lambda w: (
        "/customers", {"json": {"id": _uid("C"), "member_code": _uid("M"), "home_store_id": "S1"}})),
    ("GET", "/customers"): rule({"staff_s1", "staff_s3", "marketer", "service", "admin"}, lambda w: ("/customers", {})),
    ("GET", "/customers/{customer_id}"): rule({"shopper", "staff_s1", "staff_s3", "marketer", "service", "admin"},
                                              lambda w: ("/customers/C1", {})),
    ("POST", "/customers/{customer_id}/stored-value/top-ups"): rule(
        {"staff_s1", "staff_s3", "service", "admin"},
        lambda w: ("/customers/C1/stored-value/top-ups", {"json": {"amount": 100, "reference": _uid("t")}})),
    ("GET", "/customers/{customer_id}/stored-value"): rule(
        {"shopper", "staff_s1", "staff_s3", "service", "admin"}, lambda w: ("/customers/C1/stored-value", {})),
    ("GET", "/till/members/{member_code}"): rule({"staff_s1", "staff_s3", "admin"},
                                                 lambda w: ("/till/members/M0001", {})),
    ("GET", "/till/scan/{code}"): rule({"staff_s1", "staff_s3", "admin"},
                                       lambda w: ("/till/scan/690000000003", {"params": {"store_id": "S1"}})),
    # recommendations
    ("GET", "/customers/{customer_id}/recommendations"): rule(
        {"shopper", "staff_s1", "staff_s3", "marketer", "service", "admin"},
        lambda w: ("/customers/C1/recommendations", {})),
    ("GET", "/recommendations"): rule(KEYED, lambda w: ("/recommendations", {"params": {"region": "east"}})),
    ("GET", "/products/{sku}/related"): rule(KEYED, lambda w: ("/products/PHONE-BLK-128/related", {})),
    # what the platform knows: a member's profile, forecasts and replenishment, segments
    ("GET", "/customers/{customer_id}/profile"): rule({"shopper", "staff_s1", "marketer", "admin"}, lambda w: (
        f"/customers/{member_of_s1(w)}/profile", {})),
    ("GET", "/forecasts"): rule({"staff_s1", "staff_s3", "service", "admin"},
                                lambda w: ("/forecasts", {"params": {"sku": "MILK-1L"}})),
    ("GET", "/replenishment"): rule({"staff_s1", "staff_s3", "service", "admin"}, lambda w: ("/replenishment", {})),
    # loyalty and marketing: a member's points and coupons for them, their store, marketers and the back office
    ("GET", "/tiers"): rule(KEYED, lambda w: ("/tiers", {})),
    ("GET", "/customers/{customer_id}/points"): rule(MEMBER_PARTIES, lambda w: (
        f"/customers/{member_of_s1(w)}/points", {})),
    ("GET", "/customers/{customer_id}/coupons"): rule(MEMBER_PARTIES, lambda w: (
        f"/customers/{member_of_s1(w)}/coupons", {})),
    ("POST", "/customers/{customer_id}/points/behaviour"): rule({"service", "admin"}, lambda w: (
        "/customers/C1/points/behaviour", {"json": {"kind": "first_review", "reference": _uid("review")}})),
    ("POST", "/loyalty/run"): rule({"service", "admin"}, lambda w: ("/loyalty/run", {})),
    ("POST", "/coupon-definitions"): rule({"marketer", "admin"}, lambda w: (
        "/coupon-definitions", {"json": {"name": "ten off", **_window(), "rule": {"kind": "amount_off", "value": 1000}}})),
    ("GET", "/coupon-definitions"): rule({"marketer", "service", "admin"}, lambda w: ("/coupon-definitions", {})),
    ("POST", "/campaigns"): rule({"marketer", "admin"}, lambda w: ("/campaigns", {"json": _campaign()})),
    ("POST", "/campaigns/{campaign_id}/launch"): rule({"marketer", "admin"}, lambda w: (
        f"/campaigns/{draft_campaign(w)}/launch", {"json": {}})),
    ("GET", "/campaigns"): rule({"marketer", "service", "admin"}, lambda w: ("/campaigns", {})),
    ("GET", "/campaigns/{campaign_id}"): rule({"marketer", "service", "admin"}, lambda w: (
        f"/campaigns/{draft_campaign(w)}", {})),
    # group buys: marketers define deals; anyone with a key sees them and the groups to join
    ("POST", "/group-deals"): rule({"marketer", "admin"}, lambda w: ("/group-deals", {"json": {
        "name": "pair", "sku": "CASE-BLK", "group_price": 100, "group_size": 2, "hours_to_form": 1, **_window()}})),
    ("GET", "/group-deals"): rule(KEYED, lambda w: ("/group-deals", {})),
    ("GET", "/group-deals/{deal_id}/groups"): rule(KEYED, lambda w: (f"/group-deals/{_deal(w)}/groups", {})),
    ("GET", "/groups/{group_id}"): rule(KEYED, lambda w: (f"/groups/{open_group(w)}", {})),
    # bargains: marketers define deals; a member starts one (or the app's back end for them); a friend
    # (C2 here) cuts another member's bargain; anyone with a key sees a shared bargain
    ("POST", "/bargain-deals"): rule({"marketer", "admin"}, lambda w: ("/bargain-deals", {"json": {
        "name": "cut", "sku": "CASE-BLK", "floor_price": 1, "min_cut": 1, "max_cut": 2, **_window()}})),
    ("GET", "/bargain-deals"): rule(KEYED, lambda w: ("/bargain-deals", {})),
    ("POST", "/bargains"): rule({"shopper", "service", "admin"}, lambda w: (
        "/bargains", {"json": {"deal_id": _bargain_deal(w), "customer_id": "C1"}})),
    ("GET", "/bargains/{bargain_id}"): rule(KEYED, lambda w: (f"/bargains/{c3_bargain(w)}", {})),
    ("POST", "/bargains/{bargain_id}/help"): rule({"shopper2", "service", "admin"}, lambda w: (
        f"/bargains/{c3_bargain(w)}/help", {"json": {"helper_id": "C2"}})),
    # points rewards: marketers define them; members take them with an order
    ("POST", "/points-rewards"): rule({"marketer", "admin"}, lambda w: ("/points-rewards", {"json": {
        "name": "a case for points", "sku": "CASE-BLK", "points": 100, **_window()}})),
    ("GET", "/points-rewards"): rule(KEYED, lambda w: ("/points-rewards", {})),
    # referrals: a member's own invite code; a newcomer names theirs (themself, or the sign-up service)
    ("GET", "/customers/{customer_id}/invite-code"): rule({"shopper", "service", "admin"}, lambda w: (
        "/customers/C1/invite-code", {})),
    ("POST", "/customers/{customer_id}/referral"): rule({"service", "admin"}, _referral),
    ("POST", "/customers/{customer_id}/merge"): rule({"staff_s1", "service", "admin"}, _merge),
    ("GET", "/segments"): rule({"marketer", "service", "admin"}, lambda w: ("/segments", {})),
    ("POST", "/segments"): rule({"marketer", "admin"}, lambda w: (
        "/segments", {"json": {"name": _uid("seg").lower(), "rule": {"rfm_segments": ["Champions"]}}})),
    ("GET", "/segments/{name}/members"): rule({"marketer", "service", "admin"}, lambda w: (
        f"/segments/{saved_segment(w)}/members", {})),
    # inventory: staff move their own store's stock, read anyone's
    ("GET", "/inventory"): rule({"staff_s1", "staff_s3", "marketer", "service", "admin"},
                                lambda w: ("/inventory", {"params": {"sku": "CASE-BLK"}})),
    ("POST", "/inventory/receipts"): rule({"staff_s1", "service", "admin"}, lambda w: (
        "/inventory/receipts", {"json": {"location_id": "S1", "lines": [{"sku": "CASE-BLK", "quantity": 1}]}})),
    ("POST", "/inventory/transfers"): rule({"staff_s1", "service", "admin"}, lambda w: (
        "/inventory/transfers", {"json": {"from_location_id": "S1", "to_location_id": "S2",
                                          "lines": [{"sku": "CASE-BLK", "quantity": 1}]}})),
    ("POST", "/inventory/counts"): rule({"staff_s1", "service", "admin"}, lambda w: (
        "/inventory/counts", {"json": {"location_id": "S1", "sku": "MILK-1L", "counted": 50}})),
    ("GET", "/inventory/ledger-check"): rule({"service", "admin"}, lambda w: ("/inventory/ledger-check", {})),
    # orders: the member, their store and the back office; marketers never
    ("POST", "/orders"): rule(ORDER_PARTIES, lambda w: ("/orders", {"json": {
        "channel": "mini_program", "fulfillment": "pickup", "store_id": "S1", "customer_id": "C1",
        "lines": [{"sku": "CASE-BLK", "quantity": 1}]}})),
    ("GET", "/orders"): rule({"shopper", "shopper2", "staff_s1", "staff_s3", "service", "admin"},
                             lambda w: ("/orders", {})),  # each sees their own (tested in the flows)
    ("GET", "/orders/{order_id}"): rule(ORDER_PARTIES, lambda w: (f"/orders/{pickup_order(w)}", {})),
    ("POST", "/orders/{order_id}/cancel"): rule(ORDER_PARTIES, lambda w: (
        f"/orders/{pickup_order(w)}/cancel", {"json": {}})),
    ("GET", "/orders/{order_id}/payments"): rule(ORDER_PARTIES, lambda w: (f"/orders/{pickup_order(w)}/payments", {})),
    ("POST", "/orders/{order_id}/payments"): rule(ORDER_PARTIES, lambda w: (
        f"/orders/{pickup_order(w)}/payments", {"json": {"method": "alipay"}})),
    ("POST", "/orders/{order_id}/ready-for-pickup"): rule({"staff_s1", "admin"}, lambda w: (
        f"/orders/{paid(w, pickup_order(w))}/ready-for-pickup", {})),
    ("POST", "/orders/{order_id}/picked-up"): rule({"staff_s1", "admin"}, lambda w: (
        f"/orders/{ready(w)}/picked-up", {})),
    ("POST", "/orders/{order_id}/ship"): rule({"staff_s1", "service", "admin"}, lambda w: (
        f"/orders/{paid_delivery(w)}/ship", {})),
    ("POST", "/orders/{order_id}/returns"): rule(ORDER_PARTIES, lambda w: (
        f"/orders/{completed(w)}/returns", {"json": {"lines": [{"line_number": 1, "quantity": 1}]}})),
    ("GET", "/returns"): rule({"staff_s1", "staff_s3", "service", "admin"}, lambda w: ("/returns", {})),
    ("POST", "/returns/{request_id}/decision"): rule({"staff_s1", "service", "admin"}, lambda w: (
        f"/returns/{pending_return(w)}/decision", {"json": {"approve": True}})),
    ("GET", "/shipments/{waybill}"): rule(ORDER_PARTIES, lambda w: (f"/shipments/{waybill(w)}", {})),
    # carts: the member's and their store's
    ("POST", "/carts"): rule({"shopper", "staff_s1", "staff_s3", "service", "admin"}, lambda w: (
        "/carts", {"json": {"channel": "mini_program", "customer_id": "C1"}})),
    ("GET", "/carts/{cart_id}"): rule(ORDER_PARTIES, lambda w: (f"/carts/{till_cart(w)}", {})),
    ("PUT", "/carts/{cart_id}/lines/{sku}"): rule(ORDER_PARTIES, lambda w: (
        f"/carts/{till_cart(w)}/lines/CASE-BLK", {"json": {"quantity": 2}})),
    ("POST", "/carts/{cart_id}/checkout"): rule(ORDER_PARTIES, lambda w: (
        f"/carts/{till_cart(w)}/checkout", {"json": {"fulfillment": "pickup", "store_id": "S1"}})),
    # integrations
    ("POST", "/events"): rule({"shopper", "shopper2", "service", "admin"}, lambda w: ("/events", {"json": _event()})),
    ("GET", "/exports/orders"): rule({"service", "admin"}, lambda w: ("/exports/orders", {})),
    ("GET", "/exports/payments"): rule({"service", "admin"}, lambda w: ("/exports/payments", {})),
    ("GET", "/exports/stock-movements"): rule({"service", "admin"}, lambda w: ("/exports/stock-movements", {})),
    ("POST", "/simulator/payments/{payment_id}"): rule({"service", "admin"}, lambda w: (
        f"/simulator/payments/{provider_payment(w)}", {"json": {"status": "SUCCESS"}})),
    ("POST", "/simulator/shipments/{waybill}"): rule({"service", "admin"}, lambda w: (
        f"/simulator/shipments/{waybill(w)}", {"json": {"status": "in_transit"}})),
    ("POST", "/api-keys"): rule({"admin"}, lambda w: ("/api-keys", {"json": {"role": "marketer"}})),
    ("POST", "/admin/sweep-reservations"): rule({"service", "admin"}, lambda w: ("/admin/sweep-reservations", {})),
}
# provider and carrier callbacks carry no API key: their signature is the credential (tested below)
SIGNED = {("POST", "/payments/callbacks/{provider}"), ("POST", "/logistics/callbacks/{carrier}")}


@pytest.fixture(scope="module")
def authz_world(pg_template, tmp_path_factory):
    with world_on_own_database(pg_template, tmp_path_factory.mktemp("authz"), "sm_authz") as w:
        for sku, quantity in (("CASE-BLK", 100_000), ("PHONE-BLK-128", 10_000), ("PHONE-WHT-256", 10_000),
                              ("MILK-1L", 1000)):
            w.call("POST", "/inventory/receipts", expect=201,
                   json={"location_id": "S1", "lines": [{"sku": sku, "quantity": quantity}]})
        w.call("POST", "/customers/C1/stored-value/top-ups", role="service", expect=201,
               json={"amount": 10**9, "reference": "authz"})
        yield w


def _routes(w: World) -> set[tuple[str, str]]:
    return {(method, route.path) for route in w.app.routes if isinstance(route, APIRoute)
            for method in route.methods if method not in ("HEAD", "OPTIONS")}


def test_every_route_has_a_rule(authz_world):
    routes = _routes(authz_world)
    assert routes - set(RULES) - SIGNED == set(), "a route without an authorisation rule: add it to RULES"
    assert (set(RULES) | SIGNED) - routes == set(), "a rule for a route that is gone"


def test_every_route_for_every_caller(authz_world):
    w = authz_world
    wrong, checked = [], 0
    for (method, _template), r in sorted(RULES.items()):
        for caller in CALLERS:
            path, kwargs = r.build(w)
            headers = {} if caller == "anonymous" else w.h(caller)
            response = w.client.request(method, path, headers=headers, **kwargs)
            checked += 1
            allowed = caller in r.allowed
            if allowed and not 200 <= response.status_code < 300:
                wrong.append(f"{caller} {method} {path}: {response.status_code} {response.text[:160]} (should pass)")
            denied_with = 401 if caller == "anonymous" else 403
            if not allowed and response.status_code != denied_with:
                wrong.append(f"{caller} {method} {path}: {response.status_code} {response.text[:160]} "
                             f"(should be {denied_with})")
    print(f"authorisation matrix: {len(RULES)} routes x {len(CALLERS)} callers = {checked} requests")
    assert wrong == [], "\n".join(wrong)


def test_callbacks_take_a_valid_signature_and_nothing_else(authz_world):
    w = authz_world
    payment_id = provider_payment(w)
    amount = w.call("GET", "/exports/payments", role="service", params={"limit": 500}, expect=200).json()["items"]
    amount = next(p["amount"] for p in amount if p["id"] == payment_id)
    provider = w.services.payments.providers["alipay"]
    body, signature = provider.callback(payment_id, amount)
    for headers in ({}, {"X-Signature": "0" * 64}, {"X-Signature": signature[:-1] + ("1" if signature.endswith("0") else "0"), **w.h("admin")}):
        assert w.client.post("/payments/callbacks/alipay", content=body, headers=headers).status_code in (401, 422)
    assert w.client.post("/payments/callbacks/alipay", content=body, headers={"X-Signature": signature}
                         ).status_code == 200
    carrier = w.services.carrier
    body, signature = carrier.callback(waybill(w), "in_transit")
    assert w.client.post(f"/logistics/callbacks/{carrier.name}", content=body,
                         headers={"X-Signature": "0" * 64}).status_code == 401
    assert w.client.post(f"/logistics/callbacks/{carrier.name}", content=body,
                         headers={"X-Signature": signature}).status_code == 200
