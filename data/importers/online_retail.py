"""UCI Online Retail (Chen et al., CC BY 4.0) -> the raw contract.

An online-only gift-ware shop: no stores (lines land without a store, as ONLINE), no categories
(the last word of the description, e.g. BAG, CANDLE, MUG, stands in as the category),
cancellations are invoices starting with ``C`` and carry negative quantities.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from data.importers.landing import reset_landing, write_manifest, write_table

# shipped with the code (CC BY 4.0, attribution in its README), so any clone can import it
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "samples" / "online_retail" / "online_retail_uci.parquet"


def load(path: Path = DEFAULT_PATH, since: date | None = None, until: date | None = None) -> pl.DataFrame:
    df = pl.read_parquet(path)
    if since:
        df = df.filter(pl.col("InvoiceDate") >= pl.lit(since).cast(pl.Datetime))
    if until:
        df = df.filter(pl.col("InvoiceDate") < pl.lit(until).cast(pl.Datetime))
    return df


def to_contract(df: pl.DataFrame) -> dict[str, pl.DataFrame]:
    customer = pl.col("CustomerID").cast(pl.Int64).cast(pl.Utf8)
    transactions = df.select(
        order_id=pl.col("InvoiceNo"),
        line_number=pl.int_range(1, pl.len() + 1).over("InvoiceNo"),
        customer_id=customer,
        sku=pl.col("StockCode"),
        quantity=pl.col("Quantity"),
        unit_price=pl.col("UnitPrice"),
        ordered_at=pl.col("InvoiceDate").dt.strftime("%Y-%m-%d %H:%M:%S"),
        channel=pl.lit("online"),
        fulfillment=pl.lit("delivery"),
    )
    products = (
        df.group_by("StockCode")
        .agg(pl.col("Description").drop_nulls().mode().first().alias("name"),
             pl.col("UnitPrice").filter(pl.col("UnitPrice") > 0).median().alias("price"))
        .select(
            sku=pl.col("StockCode"), product_id=pl.col("StockCode"), name=pl.col("name"),
            category=pl.col("name").str.strip_chars().str.split(" ").list.last().fill_null("Uncategorised"),
            price=pl.col("price"), listed=pl.lit(True),
        )
        .sort("sku")
    )
    customers = (
        df.filter(pl.col("CustomerID").is_not_null())
        .group_by(customer.alias("customer_id"))
        .agg(pl.col("InvoiceDate").min().dt.strftime("%Y-%m-%d %H:%M:%S").alias("signup_at"),
             pl.col("Country").mode().first().alias("region"))
        .with_columns(signup_channel=pl.lit("online"), account_type=pl.lit("online"))
        .sort("customer_id")
    )
    return {"transactions": transactions, "products": products, "customers": customers}


def import_online_retail(out: Path, path: Path = DEFAULT_PATH, since: date | None = None,
                         until: date | None = None) -> dict:
    """Import (a date slice of) UCI Online Retail into the landing folder ``out``; returns the manifest."""
    reset_landing(out)
    tables = to_contract(load(path, since, until))
    rows = {name: write_table(frame, name, out, "online_retail") for name, frame in tables.items()}
    return write_manifest(out, "online_retail", rows, path=str(path))
