"""Ingestion: every record lands or is quarantined with its rule; re-runs change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.ingest import ingest_table
from pipelines.quality import data_docs_index, validate_accepted

PRODUCTS = pl.DataFrame({"sku": ["A", "B"], "name": ["apple", "bread"], "category": ["Fruit", "Bakery"],
                         "price": [1.5, 2.0]})
GOOD = {"order_id": "o1", "line_number": "1", "customer_id": "c1", "sku": "A", "quantity": "2",
        "unit_price": "1.5", "ordered_at": "2025-03-01 10:00:00", "channel": "app"}


def _landing(tmp_path: Path, lines: list[dict], day: str = "2025-03-01", name: str = "feed.csv") -> Path:
    landing = tmp_path / "landing"
    (landing / "products").mkdir(parents=True, exist_ok=True)
    PRODUCTS.write_parquet(landing / "products" / "products.parquet")
    folder = landing / "transactions" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(lines).write_csv(folder / name)
    return landing


def _con(tmp_path: Path, landing: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ingest_table(con, "products", landing)
    return con


BAD_CASES = [
    ({"sku": "ZZZ"}, "unknown_sku"),
    ({"quantity": "0"}, "impossible_quantity"),
    ({"quantity": "99999"}, "impossible_quantity"),
    ({"quantity": "1.5"}, "bad_number"),
    ({"quantity": "lots"}, "bad_number"),
    ({"ordered_at": "31/02/2025 noon"}, "unparsable_timestamp"),
    ({"unit_price": "-3"}, "price_out_of_range"),
    ({"unit_price": "1e9"}, "price_out_of_range"),
    ({"channel": "carrier pigeon"}, "unknown_channel"),
    ({"order_id": ""}, "missing_required"),
]


@pytest.mark.parametrize(("change", "rule"), BAD_CASES)
def test_each_rule_quarantines_its_record_and_keeps_the_good_ones(tmp_path, change, rule):
    lines = [GOOD, {**GOOD, "line_number": "2", "sku": "B"}, {**GOOD, "line_number": "3", **change}]
    con = _con(tmp_path, _landing(tmp_path, lines))
    report = ingest_table(con, "transactions", tmp_path / "landing")
    assert (report.rows_in, report.accepted, report.quarantined) == (3, 2, 1)
    assert report.quarantined_by_rule == {rule: 1}
    got_rule, reason, record = con.execute("SELECT rule, reason, record FROM raw.quarantine").fetchone()
    assert got_rule == rule and reason
    assert '"line_number":"3"' in record  # the original record is kept, as landed
    assert con.execute("SELECT list_sort(list(sku)) FROM raw.transactions").fetchone()[0] == ["A", "B"]


def test_the_line_limit_is_the_retailers(tmp_path):
    """A weekly store x product feed sells 50,000 units a line: quarantined under the default limit,
    accepted (and passing the great-expectations suite) once the retailer raises it."""
    lines = [GOOD, {**GOOD, "line_number": "2", "quantity": "50000"}]
    con = _con(tmp_path, _landing(tmp_path, lines))
    report = ingest_table(con, "transactions", tmp_path / "landing")
    assert report.quarantined_by_rule == {"impossible_quantity": 1}
    assert "SMARTMALL_MAX_LINE_QUANTITY" in con.execute("SELECT reason FROM raw.quarantine").fetchone()[0]
    report = ingest_table(con, "transactions", tmp_path / "landing", max_line_quantity=100_000)
    assert (report.accepted, report.quarantined) == (2, 0)
    assert validate_accepted(con, "transactions", None, tmp_path, max_line_quantity=100_000).success
    assert not validate_accepted(con, "transactions", None, tmp_path).success  # the suite holds the same limit


def test_duplicate_keys_within_and_across_batches(tmp_path):
    landing = _landing(tmp_path, [GOOD, GOOD])  # same order line twice in one file
    _landing(tmp_path, [GOOD, {**GOOD, "line_number": "2"}], day="2025-03-02")  # re-sent next day
    con = _con(tmp_path, landing)
    report = ingest_table(con, "transactions", landing, ["2025-03-01"])
    assert (report.accepted, report.quarantined_by_rule) == (1, {"duplicate_key": 1})
    report = ingest_table(con, "transactions", landing, ["2025-03-02"])
    assert (report.accepted, report.quarantined_by_rule) == (1, {"duplicate_key": 1})


def test_a_broken_copy_does_not_push_out_the_good_record(tmp_path):
    landing = _landing(tmp_path, [{**GOOD, "quantity": "0"}, GOOD])
    con = _con(tmp_path, landing)
    report = ingest_table(con, "transactions", landing)
    assert report.accepted == 1 and report.quarantined_by_rule == {"impossible_quantity": 1}


def test_reingesting_a_batch_changes_nothing(tmp_path):
    landing = _landing(tmp_path, [GOOD, {**GOOD, "line_number": "2", "sku": "ZZZ"}])
    con = _con(tmp_path, landing)
    snapshot = []
    for _ in range(3):
        ingest_table(con, "transactions", landing)
        snapshot.append(con.execute(
            "SELECT (SELECT count(*) FROM raw.transactions), (SELECT count(*) FROM raw.quarantine), "
            "(SELECT sum(accepted) FROM raw.ingest_log WHERE source_table = 'transactions')").fetchone())
    assert snapshot[0] == snapshot[1] == snapshot[2] == (1, 1, 1)


def test_gx_suite_passes_on_accepted_rows_and_catches_a_bad_one(tmp_path):
    landing = _landing(tmp_path, [GOOD, {**GOOD, "line_number": "2", "quantity": "-1"}])
    con = _con(tmp_path, landing)
    ingest_table(con, "transactions", landing)
    assert validate_accepted(con, "transactions", ["2025-03-01"], tmp_path).success
    # a record that bypassed routing must be caught by the independent suite
    con.execute("UPDATE raw.transactions SET channel = 'fax' WHERE line_number = 2")
    result = validate_accepted(con, "transactions", ["2025-03-01"], tmp_path)
    assert not result.success and any("channel" in f for f in result.failed)
    # both runs are kept in the environment's GX project, and the Data Docs show them
    kept = sorted((tmp_path / "gx" / "uncommitted" / "validations" / "raw_transactions").rglob("*.json"))
    assert len(kept) == 2
    assert [json.loads(f.read_text())["success"] for f in kept] == [True, False]
    index = data_docs_index(tmp_path)
    assert index is not None and "raw_transactions" in index.read_text()


def test_events_duplicate_ids_and_unknown_names(tmp_path):
    landing = tmp_path / "landing"
    day = landing / "events" / "date=2025-03-01"
    day.mkdir(parents=True)
    ev = {"event_id": "e1", "event": "Product Viewed", "occurred_at": "2025-03-01 10:00:00", "anonymous_id": "a1"}
    pl.DataFrame([ev, ev, {**ev, "event_id": "e2", "event": "Product Teleported"},
                  {**ev, "event_id": "e3", "anonymous_id": None}]).write_parquet(day / "x.parquet")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    report = ingest_table(con, "events", landing)
    assert report.accepted == 1
    assert report.quarantined_by_rule == {"duplicate_key": 1, "unknown_event": 1, "missing_identity": 1}

