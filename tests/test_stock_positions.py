"""Committed stock from the commerce API to replenishment: export -> landing -> raw (with quarantine)
-> staging -> the replenishment position (on hand + in transit - committed)."""

from __future__ import annotations

import shutil

import duckdb
import numpy as np
import polars as pl
import pytest

from commerce_api.app import build_services
from commerce_api.db import transaction
from commerce_api.inventory import SHARED, must_apply
from commerce_api.stock_export import export_stock_positions
from data.settings import Settings, load_settings
from pipelines.ingest import ingest_table
from pipelines.replenishment import planning_frame, suggestions
from tests.test_commerce_flows import receive


def test_export_sums_pools_and_reports_reserved_and_allocated(world, tmp_path):
    w = world
    receive(w, "RW-E", "CASE-BLK", 5)
    w.call("POST", "/orders", role="shopper", json={"channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 2}]},
           expect=201)  # created: 2 reserved until paid or expired
    paid = w.call("POST", "/orders", role="shopper2", json={"channel": "app",
                                                              "lines": [{"sku": "CASE-BLK", "quantity": 1}]}, expect=201)
    payment = w.call("POST", f"/orders/{paid.json()['id']}/payments", role="shopper2", json={"method": "alipay"},
                     expect=201).json()["payment"]
    w.call("POST", f"/simulator/payments/{payment['id']}", role="service", json={}, expect=200)  # paid: allocated

    path, rows = export_stock_positions(w.services.sessions, tmp_path / "landing")
    snapshot = pl.read_parquet(path)
    assert rows == len(snapshot) and set(snapshot.columns) == {"location_id", "sku", "on_hand", "reserved",
                                                                "allocated", "as_of"}
    row = snapshot.filter((pl.col("location_id") == "RW-E") & (pl.col("sku") == "CASE-BLK")).row(0, named=True)
    assert (row["on_hand"], row["reserved"], row["allocated"]) == ("5", "2", "1")

    con = duckdb.connect()
    report = ingest_table(con, "stock_positions", tmp_path / "landing")
    assert report.rows_in == rows and report.quarantined == 0
    assert con.execute("SELECT reserved, allocated FROM raw.stock_positions "
                       "WHERE location_id = 'RW-E' AND sku = 'CASE-BLK'").fetchone() == (2, 1)
    # a second export replaces the snapshot: ingesting it again leaves one row per SKU x location
    export_stock_positions(w.services.sessions, tmp_path / "landing")
    ingest_table(con, "stock_positions", tmp_path / "landing")
    assert con.execute("SELECT count(*) FROM raw.stock_positions").fetchone()[0] == rows


def test_bad_snapshot_rows_are_quarantined_with_their_rule(tmp_path):
    landing = tmp_path / "landing"
    (landing / "products").mkdir(parents=True)
    (landing / "stock_positions").mkdir()
    pl.DataFrame({"sku": ["A", "B"], "name": ["a", "b"], "category": ["c", "c"], "price": ["1", "2"]}).write_parquet(
        landing / "products" / "products.parquet")
    rows = {  # (location_id, sku, on_hand, reserved, allocated, as_of) -> the rule that must catch it
        ("S1", "A", "4", "1", "2", "2025-01-01 10:00:00"): None,
        ("S2", "B", None, "0", "3", "2025-01-01 10:00:00"): None,  # on_hand is optional
        ("S1", "B", "4", "-1", "0", "2025-01-01 10:00:00"): "impossible_quantity",
        ("S2", "A", "4", "1.5", "0", "2025-01-01 10:00:00"): "bad_number",
        ("S3", "A", "4", "1", "0", "soon"): "unparsable_timestamp",
        ("S3", "ZZ", "4", "1", "0", "2025-01-01 10:00:00"): "unknown_sku",
        ("S4", "A", "4", None, "0", "2025-01-01 10:00:00"): "missing_required",
        ("S1", "A", "9", "9", "0", "2025-01-01 10:00:00"): "duplicate_key",
    }
    names = ["location_id", "sku", "on_hand", "reserved", "allocated", "as_of"]
    pl.DataFrame([dict(zip(names, r, strict=True)) for r in rows], schema=dict.fromkeys(names, pl.Utf8)).write_parquet(
        landing / "stock_positions" / "stock_positions.parquet")
    con = duckdb.connect()
    ingest_table(con, "products", landing)
    report = ingest_table(con, "stock_positions", landing)
    assert (report.rows_in, report.accepted, report.quarantined) == (8, 2, 6)
    caught = dict(con.execute("SELECT json_extract_string(record, '$.location_id') || '/' || "
                              "json_extract_string(record, '$.sku'), rule FROM raw.quarantine").fetchall())
    expected = {f"{r[0]}/{r[1]}": rule for r, rule in rows.items() if rule}
    assert caught == expected
    assert sorted(con.execute("SELECT location_id, allocated FROM raw.stock_positions").fetchall()) == \
        [("S1", 2), ("S2", 3)]


@pytest.fixture
def home_copy(small_home, tmp_path):
    """The small demo's warehouse and its commerce API database (seeded from the marts), copied."""
    for part in ("warehouse", "commerce"):
        shutil.copytree(small_home / part, tmp_path / part)
    return tmp_path


def test_committed_stock_lowers_the_replenishment_position(home_copy):
    con = duckdb.connect(str(home_copy / "warehouse" / "smartmall.duckdb"))
    settings = Settings(home=home_copy)  # its SQLite commerce database and landing folder
    services = build_services(settings)
    # what the API holds already (the demo campaign's paid pickups are allocated at their stores)
    export_stock_positions(services.sessions, settings.landing)
    ingest_table(con, "stock_positions", settings.landing)
    before = suggestions(planning_frame(con, load_settings().supplier_lead_days))
    assert (before["committed"] > 0).any()
    # a selling store row with stock, nothing committed and nothing in transit: commit all of it in the
    # API (a checkout reservation, as a shopper would), which leaves a position of 0, below any reorder point
    row = before.filter((pl.col("location_kind") == "store") & (pl.col("on_hand") >= 2) & (pl.col("daily_mean") > 0)
                        & (pl.col("in_transit") == 0) & (pl.col("committed") == 0)).row(0, named=True)
    committed = int(row["on_hand"])
    with transaction(services.sessions) as s:
        must_apply(s, row["sku"], row["location_id"], SHARED, "reservation", reserved=committed)
    export_stock_positions(services.sessions, settings.landing)
    ingest_table(con, "stock_positions", settings.landing)

    after = suggestions(planning_frame(con, load_settings().supplier_lead_days))
    key = (pl.col("sku") == row["sku"]) & (pl.col("location_id") == row["location_id"])
    changed = after.filter(key).row(0, named=True)
    assert changed["committed"] == committed and changed["available"] == row["on_hand"] - committed
    assert changed["position"] == pytest.approx(row["position"] - committed)
    assert changed["position"] == 0 and changed["suggested_quantity"] > 0
    assert changed["suggested_quantity"] >= row["suggested_quantity"]
    assert f"- committed {float(committed)})" in changed["reason"]
    # every other SKU x location is untouched (in-transit shares are float sums: compare to 1e-9)
    cols = ["sku", "location_id", "position", "suggested_quantity"]
    pairs = after.filter(~key).select(cols).join(before.filter(~key).select(cols), on=["sku", "location_id"])
    assert len(pairs) == len(before) - 1
    for col in ("position", "suggested_quantity"):
        assert np.allclose(pairs[col].to_numpy(), pairs[f"{col}_right"].to_numpy(), rtol=0, atol=1e-9)
