"""Load the commerce API's reference data from the marts the platform publishes (its DuckDB
warehouse, opened read-only): locations (``dim_store``), catalogue (``dim_product``), members
(``dim_customer``) and opening stock (the last day of ``fct_inventory_daily``), so the API and the
warehouse share SKU, store and customer ids. It lives on the commerce side: the platform knows
nothing of the API's schema.

Idempotent: rows that already exist are left alone (nothing is overwritten or duplicated), and
opening stock is written only for SKU x location rows the API does not hold yet, each with a
ledger ``receipt`` of the same quantity so that the stock ledger still balances.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from commerce_api.clock import utcnow
from commerce_api.db import dialect_insert, transaction
from commerce_api.schema import Customer, Location, Product, Sku, StockLevel, StockMovement, Supplier

TIERS = ("member", "silver", "gold", "diamond")
BATCH = 5_000


def read_marts(warehouse: Path) -> dict[str, pl.DataFrame]:
    if not Path(warehouse).exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run 'smartmall demo' or 'smartmall run' first")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            "locations": con.sql("""
                SELECT store_id AS id, location_kind AS kind, coalesce(store_name, store_id) AS name,
                       nullif(region, 'all') AS region,
                       CASE WHEN parent_id = store_id THEN NULL ELSE parent_id END AS parent_id,
                       latitude, longitude, location_kind = 'store' AS pickup
                FROM marts.dim_store ORDER BY (location_kind <> 'central_warehouse'),
                                              (location_kind <> 'regional_warehouse'), store_id""").pl(),
            "products": con.sql("""
                SELECT sku, product_id, coalesce(product_name, sku) AS name, coalesce(category, 'Uncategorised') AS category,
                       brand, supplier_id, spec, CAST(round(coalesce(list_price, 0) * 100) AS BIGINT) AS list_price,
                       coalesce(is_listed, true) AS listed
                FROM marts.dim_product WHERE sku IS NOT NULL ORDER BY sku""").pl(),
            "customers": con.sql("""
                SELECT customer_id AS id, customer_id AS member_code, region, home_store_id, tier, birthday
                FROM marts.dim_customer ORDER BY customer_id""").pl(),
            "stock": con.sql("""
                SELECT sku, location_id, CAST(on_hand AS BIGINT) AS on_hand FROM marts.fct_inventory_daily
                WHERE stock_date = (SELECT max(stock_date) FROM marts.fct_inventory_daily) AND on_hand > 0
                ORDER BY sku, location_id""").pl(),
        }
    finally:
        con.close()


def _insert_missing(session: Session, table, rows: list[dict]) -> int:
    for start in range(0, len(rows), BATCH):
        session.execute(dialect_insert(session, table).on_conflict_do_nothing(), rows[start:start + BATCH])
    return len(rows)


def seed_from_warehouse(factory: sessionmaker[Session], warehouse: Path | str) -> dict[str, int]:
    """Copy the marts of the DuckDB file ``warehouse`` into the API database; returns the row counts
    read per entity."""
    marts = read_marts(Path(warehouse))
    now = utcnow()
    with transaction(factory) as s:
        locations = marts["locations"].to_dicts()
        known = {row["id"] for row in locations}
        for row in locations:  # a parent outside the tree would break the foreign key
            row["parent_id"] = row["parent_id"] if row["parent_id"] in known else None
        _insert_missing(s, Location, locations)
        products = marts["products"]
        suppliers = sorted({x for x in products["supplier_id"].to_list() if x})
        _insert_missing(s, Supplier, [{"id": x, "name": x, "lead_time_days": 7} for x in suppliers])
        heads = products.unique("product_id", keep="first", maintain_order=True)
        _insert_missing(s, Product, [{"id": r["product_id"], "name": r["name"], "category": r["category"],
                                      "brand": r["brand"], "supplier_id": r["supplier_id"], "listed": True,
                                      "updated_at": now} for r in heads.iter_rows(named=True)])
        _insert_missing(s, Sku, [{"sku": r["sku"], "product_id": r["product_id"],
                                  "spec": {"spec": r["spec"]} if r["spec"] else {}, "barcode": None,
                                  "list_price": max(int(r["list_price"]), 0), "listed": bool(r["listed"]),
                                  "visible_channels": None, "stock_pools": "shared", "updated_at": now}
                                 for r in products.iter_rows(named=True)])
        customers = [{**r, "tier": r["tier"] if r["tier"] in TIERS else "member", "points": 0, "stored_value": 0,
                      "home_store_id": r["home_store_id"] if r["home_store_id"] in known else None,
                      "name": None, "created_at": now} for r in marts["customers"].iter_rows(named=True)]
        _insert_missing(s, Customer, customers)
        held = set(s.execute(select(StockLevel.sku, StockLevel.location_id)).tuples())
        skus = set(products["sku"].to_list())
        stock = marts["stock"].join(pl.DataFrame(list(held), schema={"sku": pl.Utf8, "location_id": pl.Utf8}, orient="row"),
                                    on=["sku", "location_id"], how="anti")  # rows the API holds already stay
        usable = pl.col("sku").is_in(list(skus)) & pl.col("location_id").is_in(list(known))
        opening = stock.filter(usable).to_dicts()
        unknown = stock.filter(~usable).height  # stock of a SKU or location the marts do not describe
        _insert_missing(s, StockLevel, [{"sku": r["sku"], "location_id": r["location_id"], "pool": "shared",
                                         "on_hand": r["on_hand"], "reserved": 0, "allocated": 0} for r in opening])
        for start in range(0, len(opening), BATCH):
            s.execute(StockMovement.__table__.insert(), [
                {"sku": r["sku"], "location_id": r["location_id"], "pool": "shared", "kind": "receipt",
                 "on_hand_delta": r["on_hand"], "reserved_delta": 0, "allocated_delta": 0,
                 "reference": "opening balance from the warehouse", "created_at": now}
                for r in opening[start:start + BATCH]])
    return {"locations": len(locations), "products": heads.height, "skus": products.height,
            "customers": len(customers), "opening stock rows": len(opening),
            "stock rows left out (unknown SKU or location)": unknown}
