"""Property-based tests (hypothesis) of the inventory invariants over random sequences of
receipts, transfers, counts, orders, payments, shipments, cancellations and expiries."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from commerce_api import inventory, orders
from commerce_api.clock import utcnow
from commerce_api.db import make_engine, make_sessionmaker, transaction
from commerce_api.errors import ApiError
from commerce_api.logistics import SimulatedCarrier
from commerce_api.payments import Payments, SimulatedProvider
from commerce_api.schema import Base, Location, Order, OrderLine, Product, Sku, StockLevel
from commerce_api.sweeper import sweep_expired
from data.settings import Settings

LOCATIONS = ("CW", "RW", "S1", "S2")
SKUS = ("A", "B")

loc = st.sampled_from(LOCATIONS)
sku = st.sampled_from(SKUS)
qty = st.integers(1, 12)
pick = st.integers(0, 30)  # which order, counted back from the newest
receipt = st.tuples(st.just("receive"), loc, sku, st.integers(1, 20))
new_order = st.tuples(st.just("order"), st.sampled_from(["delivery", "S1", "S2"]), sku, st.integers(1, 4), st.booleans())
operation = st.one_of(
    receipt, receipt, new_order, new_order,
    st.tuples(st.just("transfer"), loc, loc, sku, qty),
    st.tuples(st.just("count"), loc, sku, st.integers(0, 25)),
    st.tuples(st.just("pay"), pick),
    st.tuples(st.just("ship"), pick),
    st.tuples(st.just("cancel"), pick),
    st.tuples(st.just("expire"), st.booleans()),
)


def _world(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}")
    Base.metadata.create_all(engine)
    factory = make_sessionmaker(engine)
    now = utcnow()
    with transaction(factory) as s:
        s.add_all([Location(id="CW", kind="central_warehouse", name="c", region=None),
                   Location(id="RW", kind="regional_warehouse", name="r", region="east", parent_id="CW"),
                   Location(id="S1", kind="store", name="s1", region="east", parent_id="RW", pickup=True),
                   Location(id="S2", kind="store", name="s2", region="east", parent_id="RW", pickup=True),
                   Product(id="P", name="p", category="x", listed=True, updated_at=now)])
        s.flush()
        s.add_all([Sku(sku=k, product_id="P", list_price=100, listed=True, stock_pools="shared", spec={},
                       updated_at=now) for k in SKUS])
        s.flush()
        for location in LOCATIONS:  # some opening stock, so that orders go through as often as not
            for item in SKUS:
                inventory.receive(s, location, item, 6)
    return engine, factory


def _check_invariants(factory) -> None:
    with factory() as s:
        assert inventory.ledger_mismatches(s) == []
        levels = {(r.sku, r.location_id): r for r in s.execute(select(StockLevel)).scalars()}
        held = defaultdict(lambda: [0, 0])  # (sku, location) -> [reserved, allocated] from the orders
        for line, status in s.execute(select(OrderLine, Order.status).join(Order, Order.id == OrderLine.order_id)):
            if status in ("created", "deposit_paid"):
                held[(line.sku, line.location_id)][0] += line.quantity
            elif status in ("paid", "allocated", "ready_for_pickup"):
                held[(line.sku, line.location_id)][1] += line.quantity
    for key, row in levels.items():
        assert row.on_hand >= 0 and row.reserved >= 0 and row.allocated >= 0
        assert row.on_hand - row.reserved - row.allocated >= 0, key
        assert [row.reserved, row.allocated] == held.get(key, [0, 0]), key


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=8, max_size=40))
def test_inventory_invariants_hold_over_any_sequence(tmp_path_factory, ops):
    engine, factory = _world(tmp_path_factory.mktemp("prop") / "c.db")
    payments = Payments({"alipay": SimulatedProvider("alipay", "s")})
    carrier = SimulatedCarrier("sim", "s")
    made: list[str] = []
    clock = utcnow()
    for op in ops:
        try:
            with transaction(factory) as s:
                kind = op[0]
                if kind == "receive":
                    inventory.receive(s, op[1], op[2], op[3])
                elif kind == "transfer":
                    inventory.transfer(s, op[1], op[2], op[3], op[4])
                elif kind == "count":
                    inventory.count(s, op[1], op[2], op[3])
                elif kind == "order":
                    where, item, n, till = op[1], op[2], op[3], op[4]
                    req = orders.OrderIn(
                        channel="store_pos" if till and where != "delivery" else "app",
                        fulfillment="delivery" if where == "delivery" else ("in_store" if till else "pickup"),
                        store_id=None if where == "delivery" else where, delivery_region="east",
                        lines=(orders.LineIn(item, n),))
                    made.append(orders.create_order(s, req, ttl_seconds=600, now=clock).id)
                elif kind in ("pay", "ship", "cancel") and not made:
                    kind = "nothing"
                elif kind in ("pay", "ship", "cancel"):
                    order = orders.get_order(s, made[-1 - op[1] % len(made)], lock=True)
                    if kind == "pay":
                        payment, _ = payments.start(s, order, "alipay")
                        s.flush()
                        raw, sig = payments.providers["alipay"].callback(payment.id, payment.amount)
                        payments.on_callback(s, "alipay", raw, sig)
                    elif kind == "ship":
                        if order.fulfillment == "delivery":
                            orders.ship(s, order, carrier, clock)
                        else:
                            orders.complete(s, order, clock)
                    else:
                        orders.cancel(s, order, "test", clock, lambda o, r, s=s: payments.refund(s, o, r), Settings())
                elif kind == "expire":
                    clock = clock + timedelta(seconds=601 if op[1] else 1)
            event(f"{kind} ok")
        except ApiError as exc:
            event(f"{op[0]} refused: {exc.code}")  # refused operations (out of stock, illegal transition, ...) must leave no trace
        if op[0] == "expire":
            sweep_expired(factory, payments, Settings(), now=clock)
        _check_invariants(factory)
    engine.dispose()
