"""Real data and your own files arrive in the same raw contract."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from data.contract import TABLES
from data.importers.complete_journey import import_complete_journey, package_data_dir
from data.importers.folder import ContractError, import_folder
from data.importers.online_retail import import_online_retail
from tests.helpers import ONLINE_RETAIL


def _read(landing, table):
    return pl.read_parquet(landing / table / "**" / "*.parquet", hive_partitioning=False) if TABLES[table].daily \
        else pl.read_parquet(landing / table / "*.parquet")


def test_online_retail_slice_keeps_every_line(tmp_path):
    src = pl.read_parquet(ONLINE_RETAIL)
    manifest = import_online_retail(tmp_path, ONLINE_RETAIL, date(2011, 1, 1), date(2011, 2, 1))
    expected = src.filter((pl.col("InvoiceDate") >= pl.datetime(2011, 1, 1)) & (pl.col("InvoiceDate") < pl.datetime(2011, 2, 1)))
    tx = _read(tmp_path, "transactions")
    assert manifest["rows"]["transactions"] == len(tx) == len(expected)
    assert tx["quantity"].sum() == expected["Quantity"].sum()
    assert abs((tx["quantity"] * tx["unit_price"]).sum() - (expected["Quantity"] * expected["UnitPrice"]).sum()) < 1e-6
    # cancellations keep their negative quantities; guests have no customer id
    assert (tx.filter(pl.col("order_id").str.starts_with("C"))["quantity"] < 0).all()
    assert tx["customer_id"].null_count() == expected["CustomerID"].null_count()
    assert tx.select(pl.struct("order_id", "line_number").is_unique().all()).item()
    assert manifest["start"] == "2011-01-04"  # the shop was closed over new year


def test_online_retail_full_file_counts():
    src = pl.read_parquet(ONLINE_RETAIL)
    assert len(src) == 541_909 and src["CustomerID"].n_unique() - 1 == 4_372


def test_complete_journey_week_slice(tmp_path):
    manifest = import_complete_journey(tmp_path, date(2017, 3, 1), date(2017, 3, 8))
    tx = _read(tmp_path, "transactions")
    src = pl.read_parquet(package_data_dir() / "transactions.parquet").filter(
        pl.col("transaction_timestamp").is_between(pl.datetime(2017, 3, 1), pl.datetime(2017, 3, 8), closed="left"))
    assert len(tx) == len(src) == manifest["rows"]["transactions"]
    # net revenue is what the household paid: sales_value - coupon_disc (zero-quantity lines carry no price)
    tx, src = tx.filter(pl.col("quantity") != 0), src.filter(pl.col("quantity") != 0)
    net = (tx["quantity"] * tx["unit_price"] - tx["discount_amount"]).sum()
    paid = (src["sales_value"] - src["coupon_disc"]).sum()
    assert net == pytest.approx(paid, abs=0.01)
    products = _read(tmp_path, "products")
    assert products["sku"].n_unique() == len(products) == 92_331
    assert set(_read(tmp_path, "stores")["store_id"]) >= set(tx["store_id"].unique())


def test_bring_your_own_folder(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "transactions.csv").write_text(
        "order_id,line_number,customer_id,sku,quantity,unit_price,ordered_at,store_id,channel,loyalty_points\n"
        "A1,1,c1,S1,2,9.90,2025-05-01 10:00:00,ST1,store_pos,5\n"
        "A1,2,c1,S2,1,3.50,2025-05-01 10:00:00,ST1,store_pos,0\n"
        "A2,1,,S1,1,9.90,2025-05-02 18:30:00,,app,0\n"
        "A3,1,c2,S1,-1,9.90,2025-05-03 11:00:00,ST1,store_pos,0\n"
        "A4,1,c2,S1,1,9.90,not a time,ST1,store_pos,0\n")
    (mine / "products.csv").write_text("sku,name,category,brand,price\nS1,Tea,Drinks,Leaf,9.9\nS2,Cup,Home,Clay,3.5\n")
    manifest = import_folder(mine, tmp_path / "landing")
    assert manifest["rows"] == {"transactions": 5, "products": 2}
    assert manifest["ignored_columns"] == {str(mine / "transactions.csv"): ["loyalty_points"]}
    days = sorted(p.name for p in (tmp_path / "landing" / "transactions").iterdir())
    assert days == ["date=2025-05-01", "date=2025-05-02", "date=2025-05-03"]
    # the unparsable timestamp still landed (with the file's first day) so ingestion can quarantine it
    assert len(_read(tmp_path / "landing", "transactions")) == 5


def test_bring_your_own_folder_refuses_missing_columns(tmp_path):
    (tmp_path / "transactions.csv").write_text("order_id,sku,quantity\nA1,S1,2\n")
    with pytest.raises(ContractError, match=r"transactions\.csv.*line_number"):
        import_folder(tmp_path, tmp_path / "landing")
    with pytest.raises(ContractError, match="no transactions file"):
        import_folder(tmp_path / "nothing_here", tmp_path / "landing2")
