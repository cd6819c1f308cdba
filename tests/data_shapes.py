"""Shapes of retailer data we did not generate, for the bring-your-own-data matrix.

Each builder writes a folder in the input contract (README "Bring your own data") from the two
real datasets we ship or install (UCI Online Retail, 84.51 Complete Journey) or from the synthetic
generator's landing folder, then drops, aggregates or rewrites columns the way users' exports do.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import polars as pl

from tests.helpers import ONLINE_RETAIL

REQUIRED = ["order_id", "line_number", "sku", "quantity", "unit_price", "ordered_at"]


def _uci(since: str, until: str) -> pl.DataFrame:
    """UCI Online Retail lines in ``[since, until)`` as contract transactions (customer ids as text)."""
    df = pl.read_parquet(ONLINE_RETAIL).filter(
        pl.col("InvoiceDate").is_between(datetime.fromisoformat(since), datetime.fromisoformat(until), closed="left"))
    return df.select(
        order_id=pl.col("InvoiceNo"),
        line_number=pl.int_range(1, pl.len() + 1).over("InvoiceNo"),
        customer_id=pl.col("CustomerID").cast(pl.Int64).cast(pl.Utf8),
        sku=pl.col("StockCode"),
        quantity=pl.col("Quantity"),
        unit_price=pl.col("UnitPrice"),
        ordered_at=pl.col("InvoiceDate").dt.strftime("%Y-%m-%d %H:%M:%S"),
    )


def transactions_only(out: Path, synthetic: Path) -> None:
    """Only the required columns plus customer ids, no other file (no stock, no events, no products)."""
    _uci("2011-08-01", "2011-12-10").write_csv(out / "transactions.csv")


def guests_only(out: Path, synthetic: Path) -> None:
    """A till export without customer ids at all: the column is absent."""
    _uci("2011-09-01", "2011-12-10").select(REQUIRED).write_parquet(out / "transactions.parquet")


def no_products_file(out: Path, synthetic: Path) -> None:
    """The synthetic retailer with every file but products."""
    for table in ("transactions", "customers", "stores", "events", "inventory_movements", "iot_readings"):
        shutil.copytree(synthetic / table, out / table)


def no_stores_file(out: Path, synthetic: Path) -> None:
    """The synthetic retailer without stores (so every location is unknown to the store tree)."""
    for table in ("transactions", "products", "customers", "inventory_movements"):
        shutil.copytree(synthetic / table, out / table)


def weekly_aggregates(out: Path, synthetic: Path) -> None:
    """Complete Journey summed to one line per store x product x week (quantities in the thousands
    for fuel), as a supplier's sell-out report arrives: no customers, no baskets."""
    from data.importers.complete_journey import package_data_dir

    tx = pl.read_parquet(package_data_dir() / "transactions.parquet")
    stores = tx.group_by("store_id").len().sort("len", descending=True).head(2)["store_id"]
    weekly = (
        tx.filter(pl.col("store_id").is_in(stores.implode()))
        .with_columns(week_start=pl.col("transaction_timestamp").dt.truncate("1w"))
        .group_by("store_id", "product_id", "week_start")
        .agg(pl.col("quantity").sum(), pl.col("sales_value").sum())
        .filter(pl.col("quantity") > 0)
        .sort("week_start", "store_id", "product_id")
    )
    weekly.select(
        order_id=pl.format("W{}-{}-{}", pl.col("week_start").dt.strftime("%Y%m%d"), "store_id", "product_id"),
        line_number=pl.lit(1),
        sku=pl.col("product_id").cast(pl.Utf8),
        quantity=pl.col("quantity"),
        unit_price=(pl.col("sales_value") / pl.col("quantity")).round(4),
        ordered_at=pl.col("week_start").dt.strftime("%Y-%m-%d 00:00:00"),
        store_id=pl.col("store_id").cast(pl.Utf8),
    ).write_csv(out / "transactions.csv")


def single_store_single_day(out: Path, synthetic: Path) -> None:
    """One store's sales of one day, with its store row."""
    tx = pl.read_parquet(synthetic / "transactions" / "**" / "*.parquet")
    store = tx.filter(pl.col("store_id").is_not_null())["store_id"].mode().sort()[0]
    tx = tx.filter((pl.col("store_id") == store) & pl.col("ordered_at").cast(pl.Utf8).str.starts_with("2025-03-14"))
    tx.select(pl.all().cast(pl.Utf8)).write_csv(out / "transactions.csv")
    stores = pl.read_parquet(synthetic / "stores" / "**" / "*.parquet")
    stores.filter(pl.col("store_id") == store).select(pl.all().cast(pl.Utf8)).write_csv(out / "stores.csv")


def odd_values_and_ids(out: Path, synthetic: Path) -> None:
    """Zero-value lines (free samples, fully discounted orders), returns (negative lines), customers
    whose only orders are free, and ids with prefixes and unicode, with a products file to match."""
    tx = _uci("2011-05-01", "2011-12-10")
    rename = {"sku": pl.format("SKU-货号-{}", "sku"), "customer_id": pl.format("会员/{}", "customer_id"),
              "order_id": pl.format("ORD#{}", "order_id")}
    tx = tx.with_columns(**rename)
    first = tx["customer_id"].drop_nulls().unique().sort().head(40)
    free = tx.filter(pl.col("customer_id").is_in(first.implode())).with_columns(unit_price=pl.lit(0.0))
    free_only = pl.DataFrame({"order_id": ["ORD#FREE1", "ORD#FREE2", "ORD#FREE2"], "line_number": [1, 1, 2],
                              "customer_id": ["会员/仅赠品", "会员/仅赠品", "会员/仅赠品"],
                              "sku": ["SKU-货号-85123A"] * 3, "quantity": [1, 2, 1], "unit_price": [0.0] * 3,
                              "ordered_at": ["2011-06-02 10:00:00", "2011-08-03 11:00:00", "2011-08-03 11:00:00"]})
    rest = tx.filter(~pl.col("customer_id").is_in(first.implode()) | pl.col("customer_id").is_null())
    pl.concat([rest, free, free_only.cast(rest.schema)]).write_parquet(out / "transactions.parquet")
    names = pl.read_parquet(ONLINE_RETAIL).group_by("StockCode").agg(pl.col("Description").drop_nulls().first())
    names.select(sku=pl.format("SKU-货号-{}", "StockCode"), name=pl.col("Description"),
                 category=pl.col("Description").str.split(" ").list.last()).write_csv(out / "products.csv")


SHAPES: dict[str, Callable[[Path, Path], None]] = {
    f.__name__: f for f in (transactions_only, guests_only, no_products_file, no_stores_file, weekly_aggregates,
                            single_store_single_day, odd_values_and_ids)
}


def build(name: str, out: Path, synthetic_landing: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    SHAPES[name](out, synthetic_landing)
    return out
