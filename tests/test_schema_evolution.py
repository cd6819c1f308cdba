"""A warehouse built under an older contract keeps loading after the contract changes: raw tables
gain the new columns, widen types that can widen, and refuse (with the way out) what cannot."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import polars as pl
import pytest

from data.contract import TABLES, Column
from pipelines import ingest
from pipelines.ingest import IngestError, ingest_table

NEW = TABLES["transactions"]
ADDED = ("discount_amount", "fulfillment", "payment_method")  # not in the "old" contract


def _old_contract(**types: str) -> dict:
    """The contract as it was: transactions without the ADDED columns (and their rules), with
    ``types`` overriding column types."""
    columns = tuple(dataclasses.replace(c, sql_type=types.get(c.name, c.sql_type)) for c in NEW.columns
                    if c.name not in ADDED)
    rules = tuple(r for r in NEW.rules if not any(a in r.violation for a in ADDED))
    return {**TABLES, "transactions": dataclasses.replace(NEW, columns=columns, rules=rules)}


def _land(landing: Path, day: str, lines: list[dict]) -> None:
    folder = landing / "transactions" / f"date={day}"
    folder.mkdir(parents=True)
    pl.DataFrame(lines).write_csv(folder / "feed.csv")


LINE = {"order_id": "o1", "line_number": "1", "sku": "A", "quantity": "2", "unit_price": "1.5",
        "ordered_at": "2025-03-01 10:00:00", "channel": "app"}


def test_a_warehouse_built_under_the_old_contract_loads_the_new_one(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with monkeypatch.context() as old:
        old.setattr(ingest, "TABLES", _old_contract(quantity="INTEGER", unit_price="FLOAT"))
        _land(landing, "2025-03-01", [LINE])
        assert ingest_table(con, "transactions", landing).accepted == 1
    assert con.execute("SELECT data_type FROM duckdb_columns() WHERE table_name = 'transactions' "
                       "AND column_name = 'unit_price'").fetchone()[0] == "FLOAT"

    # the contract moved on: three new columns, unit_price widened to DOUBLE
    _land(landing, "2025-03-02", [{**LINE, "order_id": "o2", "ordered_at": "2025-03-02 10:00:00",
                                   "discount_amount": "0.5", "fulfillment": "pickup", "payment_method": "alipay",
                                   "unit_price": "2.25"}])
    report = ingest_table(con, "transactions", landing, ["2025-03-02"])
    assert (report.accepted, report.quarantined) == (1, 0)
    assert sorted(report.schema_changes) == sorted(
        [f"raw.transactions: added {c} {t} (NULL in earlier loads)"
         for c, t in (("discount_amount", "DOUBLE"), ("fulfillment", "VARCHAR"), ("payment_method", "VARCHAR"))]
        + ["raw.transactions: unit_price FLOAT -> DOUBLE"])
    rows = con.execute("SELECT order_id, unit_price, discount_amount, fulfillment FROM raw.transactions "
                       "ORDER BY order_id").fetchall()
    assert rows == [("o1", 1.5, None, None), ("o2", 2.25, 0.5, "pickup")]
    # and the older day reloads under the new contract too
    assert ingest_table(con, "transactions", landing, ["2025-03-01"]).accepted == 1
    assert ingest_table(con, "transactions", landing).schema_changes == []


def test_a_column_the_contract_dropped_stays_and_is_null_from_then_on(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ingest.ensure_raw_schema(con)
    con.execute("ALTER TABLE raw.transactions ADD COLUMN loyalty_card VARCHAR")  # a column of an older contract
    con.execute("INSERT INTO raw.transactions (order_id, loyalty_card) VALUES ('old', 'card-1')")
    _land(tmp_path / "landing", "2025-03-01", [LINE])
    assert ingest_table(con, "transactions", tmp_path / "landing").accepted == 1
    assert con.execute("SELECT order_id, loyalty_card FROM raw.transactions ORDER BY order_id").fetchall() == \
        [("o1", None), ("old", "card-1")]


def test_a_narrowing_change_is_refused_with_the_way_out(tmp_path, monkeypatch):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ingest.ensure_raw_schema(con)
    narrower = dataclasses.replace(NEW, columns=tuple(
        Column(c.name, "INTEGER") if c.name == "unit_price" else c for c in NEW.columns))
    monkeypatch.setattr(ingest, "TABLES", {**TABLES, "transactions": narrower})
    with pytest.raises(IngestError, match=r"unit_price is DOUBLE .* INTEGER .*smartmall run --fresh"):
        ingest.ensure_raw_schema(con)
