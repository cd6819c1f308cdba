"""Fixtures of the commerce API tests: a fresh database per test on a real PostgreSQL server (and on
SQLite, the embedded default), the app over it, API keys per role and a small retailer."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import httpx
import polars as pl
import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import make_url

from commerce_api.app import build_services, create_app
from commerce_api.auth import create_key, forget_cached_keys
from commerce_api.db import transaction
from data.settings import Settings
from serving import published

PG_ENV = "COMMERCE_TEST_PG_URL"
TEMPLATE = "smartmall_api_template"


def pg_admin_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        raise RuntimeError(f"{PG_ENV} is not set: run the tests with ./run.sh test (it starts PostgreSQL), "
                           "or export it, e.g. postgresql+psycopg://smartmall:smartmall@127.0.0.1:5432/postgres")
    return url


def _pg(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                           dbname=u.database, autocommit=True)


@pytest.fixture(scope="session")
def pg_template() -> str:
    """A database migrated to head once per session; each test copies it (CREATE DATABASE ... TEMPLATE)."""
    admin = pg_admin_url()
    drop_database(admin, TEMPLATE)
    with _pg(admin) as con:
        con.execute(f"CREATE DATABASE {TEMPLATE}")
    url = make_url(admin).set(database=TEMPLATE).render_as_string(hide_password=False)
    services = build_services(Settings(commerce_database_url=url))  # runs the Alembic migrations
    services.sessions.kw["bind"].dispose()
    return admin


@pytest.fixture
def pg_url(pg_template) -> Iterator[str]:
    name = f"sm_test_{uuid.uuid4().hex[:10]}"
    with _pg(pg_template) as con:
        con.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield make_url(pg_template).set(database=name).render_as_string(hide_password=False)
    drop_database(pg_template, name)


def drop_database(admin_url: str, name: str, attempts: int = 5) -> None:
    """DROP DATABASE ... WITH (FORCE), tried again while a session there cannot be ended yet (e.g. an
    autovacuum worker, on a server where our role may not signal it)."""
    for attempt in range(attempts):
        try:
            with _pg(admin_url) as con:
                con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == attempts - 1:
                raise
            time.sleep(1)


@dataclass
class World:
    """A running app with keys per role and a small retailer in it."""

    client: TestClient | httpx.Client
    app: object
    keys: dict[str, str] = field(default_factory=dict)

    def h(self, role: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}", **extra}

    def call(self, method: str, path: str, role: str = "admin", expect: int | None = None, **kw) -> httpx.Response:
        headers = {**self.h(role), **kw.pop("headers", {})}
        r = self.client.request(method, path, headers=headers, **kw)
        if expect is not None:
            assert r.status_code == expect, (r.status_code, r.text)
        return r

    @property
    def services(self):
        return self.app.state.services


def _settings(url: str, tmp: Path, **overrides) -> Settings:
    return Settings(**{"commerce_database_url": url, "home": tmp, **overrides})


def serving_frames() -> dict[str, pl.DataFrame]:
    """Every table of a published version (``serving.published.TABLES``), for known lists over the
    seeded catalogue: C1 has a profile, a coupon pick and a personal list; S1 has forecasts and
    replenishment suggestions."""
    day, now = date(2026, 1, 5), datetime(2026, 1, 4, 10, 0)
    skus = ["MILK-1L", "CASE-BLK", "PHONE-WHT-256", "PHONE-BLK-128"]
    return {
        "customer_recommendations": pl.DataFrame({"customer_id": ["C1"] * 4, "variant": ["repeat"] * 4,
                                                  "rank": [1, 2, 3, 4], "sku": skus}),
        "similar_items": pl.DataFrame({"sku": ["PHONE-BLK-128", "PHONE-BLK-128"], "rank": [1, 2],
                                       "similar_sku": ["CASE-BLK", "MILK-1L"]}),
        "bought_together": pl.DataFrame({"sku": ["PHONE-BLK-128", "PHONE-BLK-128"], "rank": [1, 2],
                                         "other_sku": ["CASE-BLK", "PHONE-WHT-256"], "confidence": [0.4, 0.1],
                                         "lift": [3.0, 1.2]}),
        "popular_items": pl.DataFrame({"region": ["east", "all"], "category": ["all", "all"], "rank": [1, 1],
                                       "sku": ["PHONE-WHT-256", "PHONE-BLK-128"]}),
        "coupon_recommendations": pl.DataFrame({
            "customer_id": ["C1"], "p_redeem": [0.42], "rank": [1], "send": [True], "coupon_code": ["MEMBER10"],
            "category": ["Phones"], "reason": ["redeemed before"], "as_of": [day]}),
        "member_profiles": pl.DataFrame({
            "customer_id": ["C1", "C2"], "region": ["east", "north"], "home_store_id": ["S1", "S3"],
            "tier": ["gold", "member"], "rfm_segment": ["Champions", "Hibernating"], "orders": [12, 1],
            "net_revenue": [5400.0, 80.0], "last_order_at": [now, datetime(2025, 6, 1)],
            "recency_days": [1, 218], "clv_365d": [3000.0, float("nan")], "churn_probability": [0.1, 0.8],
            "churn_risk_band": ["low", "high"], "winback": [False, True], "value_at_risk": [None, 64.0],
            "browses_without_buying": [False, True], "abandons_carts": [False, False],
            "promotion_sensitive": [True, False], "uses_store_pickup": [True, False], "high_returner": [False, False],
            "repurchaser": [True, False], "birthday_this_month": [False, False], "category_affinity": ["Phones", None],
            "preferred_channel": ["app", "store_pos"], "as_of": [day, day]}),
        "forecasts": pl.DataFrame({
            "sku": ["MILK-1L"] * 2 + ["CASE-BLK"], "location_id": ["S1", "S1", "S2"],
            "week_start": [day, date(2026, 1, 12), day], "forecast_units": [30.0, 28.0, 2.0],
            "lower_units": [22.0, 20.0, 0.0], "upper_units": [38.0, 36.0, 4.0], "lower_95_units": [18.0, 16.0, 0.0],
            "upper_95_units": [43.0, 41.0, 6.0], "demand_class": ["smooth", "smooth", "intermittent"],
            "model": ["ets", "ets", "croston"]}),
        "replenishment": pl.DataFrame({
            "sku": ["MILK-1L", "CASE-BLK"], "location_id": ["S1", "S2"], "location_kind": ["store", "store"],
            "on_hand": [5.0, 40.0], "in_transit": [0.0, 0.0], "committed": [1.0, 0.0], "position": [4.0, 40.0],
            "reorder_point": [20.0, 5.0], "order_up_to": [50.0, 12.0], "suggested_quantity": [46.0, 0.0],
            "action": ["order", "none"], "source_id": ["RW-E", None], "days_of_cover": [0.9, 80.0],
            "reason": ["position below the reorder point", "covered"], "as_of": [day, day]}),
    }


def write_recommendation_snapshot(root: Path) -> None:
    """Publish ``serving_frames`` as the live version under ``root`` (what the pipeline's publish does)."""
    outcome = published.publish(root, serving_frames(), {"MILK-1L", "CASE-BLK", "PHONE-WHT-256", "PHONE-BLK-128"})
    assert outcome.live, outcome.describe()


def seed_world(w: World) -> None:
    """Central warehouse -> two regional warehouses -> three stores; phones, cases, milk; members."""
    with transaction(w.services.sessions) as s:
        w.keys["admin"] = create_key(s, "admin", name="test admin")
    for loc in [
        {"id": "CW", "kind": "central_warehouse", "name": "Central", "region": None, "latitude": 31.0, "longitude": 121.0},
        {"id": "RW-E", "kind": "regional_warehouse", "name": "East DC", "region": "east", "parent_id": "CW",
         "latitude": 31.2, "longitude": 121.4},
        {"id": "RW-N", "kind": "regional_warehouse", "name": "North DC", "region": "north", "parent_id": "CW",
         "latitude": 39.9, "longitude": 116.4},
        {"id": "S1", "kind": "store", "name": "Shanghai Nanjing Rd", "region": "east", "parent_id": "RW-E",
         "latitude": 31.235, "longitude": 121.475, "pickup": True},
        {"id": "S2", "kind": "store", "name": "Shanghai Pudong", "region": "east", "parent_id": "RW-E",
         "latitude": 31.22, "longitude": 121.54, "pickup": True},
        {"id": "S3", "kind": "store", "name": "Beijing Wangfujing", "region": "north", "parent_id": "RW-N",
         "latitude": 39.91, "longitude": 116.41, "pickup": True},
    ]:
        w.call("POST", "/locations", json=loc, expect=201)
    w.call("POST", "/suppliers", json={"id": "SUP1", "name": "Phone Maker", "lead_time_days": 10}, expect=201)
    w.call("POST", "/products", expect=201, json={
        "id": "P-PHONE", "name": "Phone X", "category": "Phones", "brand": "Acme", "supplier_id": "SUP1",
        "skus": [{"sku": "PHONE-BLK-128", "spec": {"colour": "black", "storage": "128GB"}, "barcode": "690000000001",
                  "list_price": 399900},
                 {"sku": "PHONE-WHT-256", "spec": {"colour": "white", "storage": "256GB"}, "barcode": "690000000002",
                  "list_price": 459900}]})
    w.call("POST", "/products", expect=201, json={
        "id": "P-CASE", "name": "Phone X case", "category": "Accessories", "brand": "Acme",
        "skus": [{"sku": "CASE-BLK", "spec": {"colour": "black"}, "barcode": "690000000003", "list_price": 9900}]})
    w.call("POST", "/products", expect=201, json={
        "id": "P-MILK", "name": "Fresh milk 1L", "category": "Fresh Food",
        "skus": [{"sku": "MILK-1L", "barcode": "690000000004", "list_price": 1290,
                  "visible_channels": ["store_pos", "self_checkout", "mini_program"]}]})
    for c in [{"id": "C1", "member_code": "M0001", "name": "Li", "region": "east", "tier": "member"},
              {"id": "C2", "member_code": "M0002", "name": "Wang", "region": "north", "tier": "diamond"},
              {"id": "C3", "member_code": "M0003", "name": "Zhao", "region": "east", "tier": "gold"}]:
        w.call("POST", "/customers", json=c, expect=201)
    for role, kw in {"service": {}, "marketer": {}, "shopper": {"customer_id": "C1"},
                     "shopper2": {"customer_id": "C2"}, "staff_s1": {"store_id": "S1"},
                     "staff_s3": {"store_id": "S3"}}.items():
        base = "shopper" if role.startswith("shopper") else "store_staff" if role.startswith("staff") else role
        w.keys[role] = w.call("POST", "/api-keys", json={"role": base, **kw}, expect=201).json()["key"]


def make_world(url: str, tmp: Path, **overrides) -> World:
    forget_cached_keys()
    app = create_app(_settings(url, tmp, **overrides), sweeper=False)
    client = TestClient(app)
    w = World(client, app)
    seed_world(w)
    write_recommendation_snapshot(w.services.settings.published_dir)
    return w


@pytest.fixture(params=["postgresql", "sqlite"])
def world(request, tmp_path) -> Iterator[World]:
    """The app on a fresh database: PostgreSQL (real server) and SQLite (the embedded default)."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'commerce.db'}"
    w = make_world(url, tmp_path)
    yield w
    w.client.close()
    w.services.sessions.kw["bind"].dispose()


@pytest.fixture
def pg_world(pg_url, tmp_path) -> Iterator[World]:
    w = make_world(pg_url, tmp_path)
    yield w
    w.client.close()
    w.services.sessions.kw["bind"].dispose()


@contextlib.contextmanager
def world_on_own_database(admin_url: str, tmp: Path, prefix: str) -> Iterator[World]:
    """A world on a database of its own (copied from the template), for a module's worth of tests."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _pg(admin_url) as con:
        con.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    w = make_world(make_url(admin_url).set(database=name).render_as_string(hide_password=False), tmp)
    try:
        yield w
    finally:
        w.client.close()
        w.services.sessions.kw["bind"].dispose()
        drop_database(admin_url, name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_pg_world(pg_url, tmp_path) -> Iterator[World]:
    """The app served by uvicorn on loopback over PostgreSQL, for concurrent clients: the race tests
    send hundreds at once to one worker, so it admits them all (shedding has its own test)."""
    with served_world(pg_url, tmp_path, db_pool_size=30, max_inflight=10_000,
                      admission_target_ms=3_600_000) as w:
        yield w


@contextlib.contextmanager
def served_world(url: str, tmp: Path, **overrides) -> Iterator[World]:
    """A world whose app uvicorn serves on a loopback port (``w.base_url``), in a thread."""
    w = make_world(url, tmp, **overrides)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(w.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    w.base_url = f"http://127.0.0.1:{port}"
    try:
        yield w
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        w.client.close()
        w.services.sessions.kw["bind"].dispose()
