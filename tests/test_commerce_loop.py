"""The closed loop, end to end: a member joins and buys through the commerce API, the pipeline
reads it back incrementally, the models learn from it, and the API serves what they learnt."""

from __future__ import annotations

import shutil
from datetime import datetime

import duckdb
import sqlalchemy as sa
from fastapi.testclient import TestClient

from commerce_api.app import create_app
from commerce_api.auth import create_key
from commerce_api.db import transaction
from data.settings import Settings
from pipelines import commerce_ingest
from pipelines.commerce_ingest import commerce_engine, ingest_commerce
from serving import published
from tests.helpers import query, run_cli
from tests.test_commerce_flows import receive

MEMBER = "LOOP-0001"


def _stocked_store_and_skus(home) -> tuple[str, list[str]]:
    """A store of the demo with the most SKUs in stock in the commerce database, and three of them."""
    engine = sa.create_engine(f"sqlite:///{home / 'commerce' / 'commerce.db'}")
    with engine.connect() as db:
        rows = db.execute(sa.text("""
            SELECT s.location_id, s.sku FROM stock_levels s JOIN locations l ON l.id = s.location_id
            WHERE l.kind = 'store' AND s.pool = 'shared' AND s.on_hand - s.reserved - s.allocated >= 5
            ORDER BY s.location_id, s.sku""")).all()
    engine.dispose()
    by_store: dict[str, list[str]] = {}
    for store, sku in rows:
        by_store.setdefault(store, []).append(sku)
    store = max(by_store, key=lambda s: len(by_store[s]))
    return store, by_store[store][:3]


def test_orders_placed_through_the_api_reach_the_marts_the_models_and_the_api_again(small_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(small_home, home, ignore=shutil.ignore_patterns("dagster_home"))
    store, skus = _stocked_store_and_skus(home)
    last_day = query(home, "SELECT max(ordered_at) FROM marts.fct_orders")[0][0]
    served_before = published.current_number(home / "serving" / "published")
    app = create_app(Settings(home=home), sweeper=False)
    with TestClient(app) as client:
        with transaction(app.state.services.sessions) as s:
            admin = create_key(s, "admin", name="loop test")
        h = {"Authorization": f"Bearer {admin}"}

        def call(method: str, path: str, expect: int, **kw) -> dict:
            r = client.request(method, path, headers=h, **kw)
            assert r.status_code == expect, (method, path, r.status_code, r.text)
            return r.json()

        call("POST", "/customers", 201, json={"id": MEMBER, "member_code": "M-LOOP-1", "home_store_id": store,
                                              "region": "east"})
        call("POST", f"/customers/{MEMBER}/stored-value/top-ups", 201,
             json={"amount": 10_000_000, "reference": "loop-test"})
        orders = []
        for sku in [*skus, skus[0]]:
            order = call("POST", "/orders", 201, json={
                "customer_id": MEMBER, "channel": "mini_program", "fulfillment": "pickup", "store_id": store,
                "lines": [{"sku": sku, "quantity": 1}]})
            call("POST", f"/orders/{order['id']}/payments", 201, json={"method": "stored_value"})
            orders.append(order["id"])
        # the member collects the first order at the store: its shipment reaches the shopper
        call("POST", f"/orders/{orders[0]}/ready-for-pickup", 200)
        call("POST", f"/orders/{orders[0]}/picked-up", 200)
        # and browses: three views of the third SKU in one app session, on the same day
        viewed = call("POST", "/events", 207, json=[
            {"event_id": f"loop-view-{i}", "event": "Product Viewed", "occurred_at": f"{last_day:%Y-%m-%d}T12:0{i}:00Z",
             "user_id": MEMBER, "session_id": "loop-session", "channel": "app", "sku": skus[2]} for i in range(3)])
        assert viewed["accepted"] == 3 and not viewed["rejected"], viewed
        unpaid = call("POST", "/orders", 201, json={
            "customer_id": MEMBER, "channel": "mini_program", "fulfillment": "pickup", "store_id": store,
            "lines": [{"sku": skus[1], "quantity": 1}]})["id"]
        call("POST", f"/orders/{unpaid}/cancel", 200, json={})
        # the demo's data ends in the past: the member bought on its last day (when the orders were
        # placed is the shop's record; the warehouse orders them by it)
        with transaction(app.state.services.sessions) as s:
            s.execute(sa.text("UPDATE orders SET created_at = :t WHERE customer_id = :c"),
                      {"t": last_day, "c": MEMBER})

        run_cli(home, "run")
        got = query(home, "SELECT order_id, source FROM marts.fct_orders WHERE customer_id = ? ORDER BY 1", [MEMBER])
        assert sorted(o for o, _ in got) == sorted(orders) and {s for _, s in got} == {"commerce_api"}
        profile = query(home, "SELECT orders, rfm_segment FROM marts.customer_profile WHERE customer_id = ?",
                        [MEMBER])
        assert profile and profile[0][0] == 4 and profile[0][1] is not None
        live = published.current_number(home / "serving" / "published")
        assert live is not None and live != served_before
        r = client.get(f"/customers/{MEMBER}/profile", headers=h)
        assert r.status_code == 200 and r.headers["X-Serving-Version"] == str(live)
        assert r.json()["published"]["orders"] == 4
        recs = client.get(f"/customers/{MEMBER}/recommendations", headers=h).json()
        assert recs["source"] == "personal"
        assert query(home, "SELECT count(*), count(DISTINCT session_id) FROM marts.fct_events "
                           "WHERE user_id = ? AND event = 'Product Viewed' AND sku = ?", [MEMBER, skus[2]]) == [(3, 1)]
        (hours,), = query(home, "SELECT hours_to_shopper FROM marts.fct_shipments WHERE order_id = ?", [orders[0]])
        assert hours > 0

        # cancelled after the first read: the next run takes it out
        call("POST", f"/orders/{orders[-1]}/cancel", 200, json={})
    run_cli(home, "run")
    got = query(home, "SELECT order_id FROM marts.fct_orders WHERE customer_id = ?", [MEMBER])
    assert sorted(o for (o,) in got) == sorted(orders[:-1])
    assert query(home, "SELECT orders FROM marts.customer_profile WHERE customer_id = ?", [MEMBER])[0][0] == 3
    assert query(home, "SELECT count(*) FROM marts.fct_order_lines WHERE source = 'commerce_api' "
                       "AND customer_id = ?", [MEMBER])[0][0] == 3
    # the rest of what the API recorded, copied as it is: the five payments (one refunded with its
    # cancelled order), that refund, and the stock ledger of the reservations and releases
    paid = query(home, "SELECT status, count(*) FROM raw.commerce_payments WHERE order_id IN ({}) "
                       "GROUP BY 1".format(", ".join("?" * len(orders))), orders)
    assert dict(paid) == {"refunded": 1, "succeeded": 3}, paid
    assert query(home, "SELECT count(*) FROM raw.commerce_refunds")[0][0] >= 1
    kinds = {k for (k,) in query(home, "SELECT DISTINCT kind FROM raw.commerce_stock_movements")}
    assert {"reservation", "release", "sale"} <= kinds, kinds
    # the marts over them: every order's payments balance with what the order says, and the ledger's
    # running levels are the API's stock levels
    money = query(home, "SELECT order_id, captured, refunded, balanced FROM marts.payment_reconciliation "
                        "WHERE customer_id = ? ORDER BY order_id", [MEMBER])
    assert len(money) == 5 and all(balanced for *_, balanced in money), money
    captured, refunded = {o: (c, r) for o, c, r, _ in money}[orders[-1]]
    assert captured == refunded > 0  # paid, then refunded with its cancellation
    assert query(home, "SELECT count(*) FROM marts.payment_reconciliation WHERE NOT balanced") == [(0,)]
    ledger = dict(((loc, sku, pool), on_hand) for loc, sku, pool, on_hand in query(home, """
        SELECT location_id, sku, pool, arg_max(on_hand_end, movement_date) FROM marts.fct_stock_ledger_daily
        GROUP BY ALL"""))
    engine = sa.create_engine(f"sqlite:///{home / 'commerce' / 'commerce.db'}")
    with engine.connect() as db:
        levels = dict(((loc, sku, pool), on_hand) for loc, sku, pool, on_hand in db.execute(sa.text(
            "SELECT location_id, sku, pool, on_hand FROM stock_levels WHERE on_hand <> 0")))
    engine.dispose()
    assert levels and {k: v for k, v in ledger.items() if v} == levels
    # a re-read with nothing new writes nothing
    con = duckdb.connect(str(home / "warehouse" / "smartmall.duckdb"))
    try:
        before = con.execute("SELECT count(*), max(_extracted_at) FROM raw.commerce_orders").fetchall()[0]
        again = ingest_commerce(con, commerce_engine(Settings(home=home).database_url))
        assert (again["orders"], again["customers"]) == (0, 0)
        assert con.execute("SELECT count(*), max(_extracted_at) FROM raw.commerce_orders").fetchall()[0] == before
    finally:
        con.close()
    assert isinstance(before[1], datetime)


def test_the_statuses_dbt_counts_as_sold_are_the_apis_paid_statuses():
    """dbt's ``commerce_sold_statuses`` (staging, the revenue test, the cancellation hook) names real
    statuses of the API's order machine: every status reachable after payment, and no other."""
    import yaml

    from commerce_api.orders import TRANSITIONS
    from pipelines.environment import DBT_PROJECT_DIR

    sold = set(yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["commerce_sold_statuses"])
    after_payment, frontier = set(), ["paid"]
    while frontier:
        status = frontier.pop()
        if status not in after_payment and status != "cancelled":
            after_payment.add(status)
            frontier += TRANSITIONS[status]
    assert sold == after_payment


def test_each_read_takes_exactly_what_changed_on_postgresql_and_sqlite(world):
    w = world
    receive(w, "S1", "CASE-BLK", 5)
    w.call("POST", "/customers/C1/stored-value/top-ups", role="service", expect=201,
           json={"amount": 100_000, "reference": "loop"})
    order = w.call("POST", "/orders", role="shopper", expect=201, json={
        "channel": "mini_program", "fulfillment": "pickup", "store_id": "S1",
        "lines": [{"sku": "CASE-BLK", "quantity": 2}]}).json()["id"]
    w.call("POST", f"/orders/{order}/payments", role="shopper", json={"method": "stored_value"}, expect=201)
    con, engine = duckdb.connect(), commerce_engine(w.services.settings.database_url)
    try:
        first = ingest_commerce(con, engine)
        assert (first["orders"], first["order_lines"], first["customers"], first["payments"]) == (1, 1, 3, 1)
        assert first["stock_movements"] >= 2  # the receipt and the reservation at least
        again = ingest_commerce(con, engine)
        assert all(n == 0 for k, n in again.items() if k != "seconds"), again
        w.call("POST", f"/orders/{order}/cancel", role="shopper", json={}, expect=200)
        after = ingest_commerce(con, engine)
        assert (after["orders"], after["payments"], after["refunds"]) == (1, 1, 1)
        assert con.execute("SELECT status FROM raw.commerce_orders").fetchall() == [("cancelled",)]
        assert con.execute("SELECT count(*) FROM raw.commerce_order_lines").fetchall() == [(1,)]
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM raw.commerce_payments").fetchall() == [(1, 1)]
    finally:
        con.close()
        engine.dispose()


def test_a_read_sees_one_moment_even_while_orders_are_placed_and_paid(world, monkeypatch):
    """An order placed and paid between the read of the orders and that of the payments is read
    whole by the next run, never as a payment without its order (seen under the soak's load)."""
    w = world
    receive(w, "S1", "CASE-BLK", 5)
    w.call("POST", "/customers/C1/stored-value/top-ups", role="service", expect=201,
           json={"amount": 100_000, "reference": "loop"})

    def buy() -> str:
        order = w.call("POST", "/orders", role="shopper", expect=201, json={
            "channel": "app", "fulfillment": "pickup", "store_id": "S1",
            "lines": [{"sku": "CASE-BLK", "quantity": 1}]}).json()["id"]
        w.call("POST", f"/orders/{order}/payments", role="shopper", json={"method": "stored_value"}, expect=201)
        return order

    buy()
    read_members = commerce_ingest._changed_customers
    placed = []

    def meanwhile(con, db):  # between the orders' read and the payments' read, the shop sells on
        placed.append(buy())
        return read_members(con, db)

    monkeypatch.setattr(commerce_ingest, "_changed_customers", meanwhile)
    con, engine = duckdb.connect(), commerce_engine(w.services.settings.database_url)
    try:
        first = ingest_commerce(con, engine)
        assert (first["orders"], first["payments"]) == (1, 1)  # the first order only, whole
        orphans = "SELECT count(*) FROM raw.commerce_payments WHERE order_id NOT IN (SELECT order_id FROM raw.commerce_orders)"
        assert con.execute(orphans).fetchone()[0] == 0
        monkeypatch.setattr(commerce_ingest, "_changed_customers", read_members)
        second = ingest_commerce(con, engine)
        assert (second["orders"], second["payments"]) == (1, 1) and placed
        assert con.execute(orphans).fetchone()[0] == 0
    finally:
        con.close()
        engine.dispose()


def test_marketing_tables_and_changed_members_flow_back_on_postgresql_and_sqlite(world):
    w = world
    receive(w, "S1", "CASE-BLK", 5)
    now = datetime.now()
    window = {"starts_at": now.replace(year=now.year - 1).isoformat(), "ends_at": now.replace(year=now.year + 1).isoformat()}
    definition = w.call("POST", "/coupon-definitions", role="marketer", expect=201, json={
        "name": "10 off", **window, "rule": {"kind": "amount_off", "value": 1000}}).json()
    campaign = w.call("POST", "/campaigns", role="marketer", expect=201, json={
        "name": "Loop", "kind": "coupon", "coupon_definition_id": definition["id"], **window,
        "audience": {"uploaded_list": True}}).json()
    w.call("POST", f"/campaigns/{campaign['id']}/launch", role="marketer", expect=200, json={"members": ["C1"]})
    coupon = w.call("GET", "/customers/C1/coupons", role="shopper", expect=200).json()["items"][0]["id"]
    order = w.call("POST", "/orders", role="shopper", expect=201, json={
        "channel": "mini_program", "fulfillment": "pickup", "store_id": "S1", "coupon_id": coupon,
        "lines": [{"sku": "CASE-BLK", "quantity": 2}]}).json()["id"]
    con, engine = duckdb.connect(), commerce_engine(w.services.settings.database_url)
    try:
        first = ingest_commerce(con, engine)
        assert (first["campaigns"], first["campaign_members"], first["coupon_definitions"], first["coupons"],
                first["order_discounts"]) == (1, 1, 1, 1, 1)
        assert con.execute("SELECT source, amount FROM raw.commerce_order_discounts").fetchall() == [
            (f"coupon:{definition['id']}", 1000)]
        assert con.execute("SELECT status FROM raw.commerce_coupons").fetchall() == [("used",)]
        assert all(n == 0 for k, n in ingest_commerce(con, engine).items() if k != "seconds")
        w.call("POST", "/customers/C1/points/behaviour", role="service", expect=201, json={"kind": "sign_up"})
        w.call("POST", f"/orders/{order}/cancel", role="shopper", json={}, expect=200)
        after = ingest_commerce(con, engine)
        assert (after["customers"], after["points_ledger"], after["coupons"], after["orders"]) == (1, 1, 1, 1)
        assert con.execute("SELECT status FROM raw.commerce_coupons").fetchall() == [("issued",)]  # given back
        assert con.execute("SELECT count(*), max(updated_at) > min(created_at) FROM raw.commerce_customers "
                           "WHERE customer_id = 'C1'").fetchall() == [(1, True)]
        assert con.execute("SELECT kind, delta FROM raw.commerce_points_ledger "
                           "WHERE customer_id = 'C1' AND kind <> 'opening'").fetchall() == [("sign_up", 100)]
    finally:
        con.close()
        engine.dispose()


def test_the_demo_campaign_is_measured_against_its_control_group(small_home):
    """The main job runs a coupon campaign through the API with 20 % held out; the marketing job
    reads it back and the mart measures it."""
    (days, audience, control, issued, redeemed, cost, measured), = query(small_home, """
        SELECT count(*), max(audience_size), max(control_size), sum(coupons_issued), sum(redemptions),
               max(cost_to_date), count(incremental_conversion)
        FROM marts.campaign_performance""")
    assert days >= 1 and measured == days
    assert 0.1 < control / audience < 0.3 and issued == audience - control
    assert 0 < redeemed <= issued and cost > 0
    (used,), = query(small_home, "SELECT count(*) FROM raw.commerce_coupons WHERE status = 'used'")
    assert used == redeemed  # every used coupon is on a sold order, and counted once
