"""``db.driver_rows``: checkout's statements run straight through psycopg give what SQLAlchemy gives,
refuse what they cannot pass through unconverted, and fail as SQLAlchemy statements fail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError

from commerce_api import orders
from commerce_api.clock import utcnow
from commerce_api.db import core, driver_rows, transaction
from commerce_api.schema import Location, Sku
from tests.commerce_fixtures import _pg, pg_admin_url


def _checkout_reads(w, skus: list[str], **request) -> tuple[list[dict], list[dict]]:
    params = {"customer_id": None, "at": utcnow(), "store_id": None, "delivery_region": None, "channel": "app",
              "at_store": None, **request}
    with w.services.sessions() as s:
        through_sqlalchemy = core(s).execute(orders._ORDER_SKUS, {**params, "skus": skus}).all()
        through_driver = driver_rows(s, orders._order_skus_pg(len(skus)),
                                     {**params, **{f"sku_{i}": sku for i, sku in enumerate(skus)}})
    by_sku = lambda rows: sorted((row._asdict() for row in rows), key=lambda r: r["sku"])  # noqa: E731
    return by_sku(through_sqlalchemy), by_sku(through_driver)


def test_checkout_read_through_the_driver_equals_sqlalchemys(pg_world):
    w = pg_world
    now = utcnow()
    w.call("PUT", "/skus/PHONE-BLK-128/regional-prices/north", role="marketer", json={"price": 389900}, expect=200)
    w.call("POST", "/skus/PHONE-BLK-128/promotions", role="marketer", expect=201,
           json={"price": 349900, "starts_at": (now - timedelta(days=1)).isoformat(),
                 "ends_at": (now + timedelta(days=1)).isoformat(), "name": "618", "region": "east"})
    w.call("POST", "/inventory/receipts", expect=201,
           json={"location_id": "RW-E", "lines": [{"sku": "PHONE-BLK-128", "quantity": 7}, {"sku": "MILK-1L", "quantity": 3}]})
    cases = [
        (["PHONE-BLK-128"], {"customer_id": "C1"}),  # the member's region (east): the regional promotion
        (["PHONE-BLK-128", "MILK-1L", "CASE-BLK"], {"customer_id": "C2"}),  # north: the regional price
        (["PHONE-BLK-128", "NO-SUCH-SKU"], {"store_id": "S1", "at_store": "S1", "channel": "store_pos"}),
        (["MILK-1L"], {"delivery_region": "north", "customer_id": "NO-SUCH-CUSTOMER"}),
    ]
    for skus, request in cases:
        sqlalchemy_rows, driver_rows_ = _checkout_reads(w, skus, **request)
        assert driver_rows_ == sqlalchemy_rows
        assert [r["sku"] for r in driver_rows_] == sorted(s for s in skus if s != "NO-SUCH-SKU")
    east, = _checkout_reads(w, ["PHONE-BLK-128"], customer_id="C1")[1]
    assert (east["promo_price"], east["region"]) == (349900, "east")
    assert east["stock"] == [["RW-E", "shared", 7, "regional_warehouse", "east"]]  # free stock, JSON as SQLAlchemy's
    assert _checkout_reads(w, ["MILK-1L"], customer_id="C2")[1][0]["visible_channels"] == [
        "store_pos", "self_checkout", "mini_program"]


def test_driver_rows_refuses_statements_whose_values_sqlalchemy_converts(pg_world):
    with pg_world.services.sessions() as s:
        with pytest.raises(ValueError, match="skus"):
            driver_rows(s, orders._ORDER_SKUS, {"skus": ["CASE-BLK"]})  # an expanding IN
        with pytest.raises(ValueError, match="spec"):
            driver_rows(s, select(Sku.sku).where(Sku.spec == bindparam("spec", type_=Sku.spec.type)),
                        {"spec": {"colour": "black"}})  # JSON is serialised by SQLAlchemy


def test_driver_rows_fail_as_sqlalchemy_does_and_the_transaction_rolls_back(pg_world):
    w = pg_world
    statement = text("INSERT INTO locations (id, kind, name, pickup) VALUES (:id, 'store', :name, false) RETURNING id")
    with pytest.raises(IntegrityError, match="locations_pkey"), transaction(w.services.sessions) as s:
        assert [r.id for r in driver_rows(s, statement, {"id": "S9", "name": "New store"})] == ["S9"]
        driver_rows(s, statement, {"id": "S9", "name": "The same id again"})
    with w.services.sessions() as s:
        assert s.get(Location, "S9") is None  # the first insert went with the failed transaction
    with transaction(w.services.sessions) as s:  # and the pooled connection still works
        driver_rows(s, statement, {"id": "S9", "name": "New store"})
    with w.services.sessions() as s:
        assert s.get(Location, "S9").name == "New store"


def test_driver_rows_refuses_column_defaults_computed_in_python(pg_world):
    with pg_world.services.sessions() as s, pytest.raises(ValueError, match="pickup"):
        driver_rows(s, insert(Location).values(id=bindparam("id"), kind="store", name="x"), {"id": "S8"})


def test_lost_connections_fail_one_checkout_with_503_and_the_next_one_works(pg_world):
    w = pg_world
    w.call("POST", "/inventory/receipts", expect=201, json={"location_id": "RW-E", "lines": [{"sku": "CASE-BLK", "quantity": 5}]})
    order = {"channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}]}
    w.call("POST", "/orders", role="shopper", json=order, expect=201)
    database = w.services.sessions.kw["bind"].url.database
    with _pg(pg_admin_url()) as admin:  # every pooled connection dies, as when the server restarts
        killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                               (database,)).fetchone()[0]
    assert killed >= 1
    r = w.call("POST", "/orders", role="shopper", json=order, expect=503)  # its first statement runs in driver_rows
    assert r.json()["error"]["code"] == "busy" and r.headers["Retry-After"] == "1"
    w.call("POST", "/orders", role="shopper", json=order, expect=201)  # the pool has let the dead ones go
    w.call("POST", "/orders", role="shopper", json=order, expect=201)
    assert w.call("GET", "/inventory", params={"sku": "CASE-BLK", "location_id": "RW-E"}, expect=200
                  ).json()["items"][0]["reserved"] == 3
