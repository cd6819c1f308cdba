"""Bad files in a landing batch: each is quarantined with a reason naming the file (and the line
where there is one), the rest of the batch loads, and nothing is lost or counted twice."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from bench.big_file import ingest_in_subprocess, write_transactions_csv
from pipelines.ingest import ingest_table

PRODUCTS = pl.DataFrame({"sku": ["A", "B"], "name": ["apple", "bread"], "price": [1.5, 2.0]})
HEADER = "order_id,line_number,customer_id,sku,quantity,unit_price,ordered_at"
DAY = "2025-03-01"


def _line(order: str, sku: str = "A", quantity: str = "2", price: str = "1.5", at: str = "2025-03-01 10:00:00",
          sep: str = ",", customer: str = "c1") -> str:
    return sep.join([order, "1", customer, sku, quantity, price, at])


def _landing(tmp_path: Path) -> tuple[Path, Path]:
    landing = tmp_path / "landing"
    (landing / "products").mkdir(parents=True)
    PRODUCTS.write_parquet(landing / "products" / "products.parquet")
    day = landing / "transactions" / f"date={DAY}"
    day.mkdir(parents=True)
    return landing, day


def _ingest(tmp_path: Path, landing: Path, **kwargs) -> tuple[duckdb.DuckDBPyConnection, object]:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ingest_table(con, "products", landing)
    return con, ingest_table(con, "transactions", landing, **kwargs)


def _quarantine(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, int | None], tuple[str, str]]:
    rows = con.execute("SELECT _source_file, source_row, rule, reason FROM raw.quarantine "
                       "WHERE source_table = 'transactions'").fetchall()
    return {(Path(f).name, row): (rule, reason) for f, row, rule, reason in rows}


def test_every_bad_file_is_quarantined_by_name_and_the_rest_of_the_batch_loads(tmp_path):
    landing, day = _landing(tmp_path)
    # a good CSV with a malformed line (line 3) and a refused record after it (line 5)
    (day / "good.csv").write_text("\n".join([HEADER, _line("o1"), _line("o2") + ",surplus", _line("o3"),
                                             _line("o4", quantity="lots"), _line("o5"), ""]))
    # the same upload again under another name: its records are duplicates, not new sales
    shutil.copy(day / "good.csv", day / "resent.csv")
    # GBK (a Chinese Excel export): read as GB18030, the names come through intact
    (day / "gbk.csv").write_bytes("\n".join([HEADER, _line("g1", customer="王芳"), ""]).encode("gbk"))
    # ';' as the delimiter and a decimal comma in one price
    (day / "semicolon.csv").write_text("\n".join([HEADER.replace(",", ";"), _line("s1", sep=";"),
                                                  _line("s2", price="1,5", sep=";"), ""]))
    # a column of the wrong type: quantity as text, ordered_at as epoch seconds
    pl.DataFrame({"order_id": ["p1", "p2", "p3"], "line_number": [1, 1, 1], "sku": ["A", "A", "B"],
                  "quantity": ["1", "two", "3"], "unit_price": [1.5, 1.5, 2.0],
                  "ordered_at": ["2025-03-01 09:00:00", "2025-03-01 09:00:00", "1740819600"]}
                 ).write_parquet(day / "typed.parquet")
    pl.DataFrame({"order_id": ["q1"], "line_number": [1], "sku": ["B"], "quantity": [1], "unit_price": [2.0],
                  "ordered_at": [datetime(2025, 3, 1, 11)]}).write_parquet(day / "native.parquet")
    whole = (day / "native.parquet").read_bytes()
    (day / "truncated.parquet").write_bytes(whole[: len(whole) // 2])
    (day / "empty.csv").write_bytes(b"")
    (day / "header-only.csv").write_text(HEADER + "\n")
    (day / "no-price.csv").write_text("order_id,line_number,sku,quantity,ordered_at\nn1,1,A,1,2025-03-01 10:00\n")
    (day / "notes.txt").write_text("sent by the ERP at 23:00")
    (day / "_SUCCESS").write_text("")  # a Spark/Hadoop marker: passed over

    con, report = _ingest(tmp_path, landing)

    loaded = {r[0] for r in con.execute("SELECT order_id FROM raw.transactions").fetchall()}
    assert loaded == {"o1", "o3", "o5", "g1", "s1", "p1", "q1"}
    assert con.execute("SELECT customer_id FROM raw.transactions WHERE order_id = 'g1'").fetchone()[0] == "王芳"
    q = _quarantine(con)
    expected_rules = {
        ("good.csv", 3): "malformed_line", ("good.csv", 5): "bad_number",
        ("resent.csv", 3): "malformed_line", ("resent.csv", 5): "bad_number",
        ("resent.csv", 2): "duplicate_key", ("resent.csv", 4): "duplicate_key",
        ("resent.csv", 6): "duplicate_key",
        ("semicolon.csv", 3): "bad_number",
        ("typed.parquet", 2): "bad_number", ("typed.parquet", 3): "unparsable_timestamp",
        ("truncated.parquet", None): "unreadable_file",
        ("empty.csv", None): "empty_file", ("header-only.csv", None): "empty_file",
        ("no-price.csv", None): "missing_column", ("notes.txt", None): "unsupported_file",
    }
    assert {k: v[0] for k, v in q.items()} == expected_rules
    # the file-level reasons name the file and say what is wrong
    assert "good.csv: line 3: Expected Number of Columns: 7 Found: 8" in q[("good.csv", 3)][1]
    assert q[("truncated.parquet", None)][1].startswith("truncated.parquet: cannot be read as parquet")
    assert "unit_price" in q[("no-price.csv", None)][1]
    assert "header only" in q[("header-only.csv", None)][1]
    # the malformed line is kept as landed
    record = json.loads(con.execute("SELECT record FROM raw.quarantine WHERE rule = 'malformed_line' "
                                    "AND _source_file LIKE '%/good.csv'").fetchone()[0])
    assert record["text"].endswith(",surplus") and record["line"] == 3
    # every record in is accepted or quarantined, once
    assert (report.rows_in, report.accepted, report.quarantined) == (len(loaded) + len(q), len(loaded), len(q))
    logged = con.execute("SELECT files, rows_in, accepted, quarantined FROM raw.ingest_log "
                         "WHERE source_table = 'transactions'").fetchall()
    assert logged == [(11, report.rows_in, report.accepted, report.quarantined)]

    # the file fixed and landed again replaces what its batch loaded: nothing doubled
    shutil.copy(tmp_path / "landing" / "transactions" / f"date={DAY}" / "native.parquet", day / "truncated.parquet")
    report = ingest_table(con, "transactions", landing)
    assert ("truncated.parquet", None) not in _quarantine(con)
    assert con.execute("SELECT count(*) FROM raw.transactions").fetchone()[0] == len(loaded)  # q1 again: a duplicate
    assert _quarantine(con)[("truncated.parquet", 1)][0] == "duplicate_key"


def test_a_csv_in_an_undeclared_encoding_is_refused_naming_its_line(tmp_path):
    landing, day = _landing(tmp_path)
    (day / "gbk.csv").write_bytes("\n".join([HEADER, _line("g1"), _line("g2", customer="王芳"), ""]).encode("gbk"))
    (day / "ok.csv").write_text("\n".join([HEADER, _line("u1"), ""]))
    con, report = _ingest(tmp_path, landing, fallback_encoding=None)
    assert {r[0] for r in con.execute("SELECT order_id FROM raw.transactions").fetchall()} == {"u1"}
    rule, reason = _quarantine(con)[("gbk.csv", 3)]
    assert rule == "not_utf8" and "line 3 is not UTF-8" in reason and "SMARTMALL_CSV_FALLBACK_ENCODING" in reason
    assert report.refused_files == [reason]  # what the run prints

    # declared as Shift-JIS, which it is not either: still refused, with both reasons
    con.close()
    (tmp_path / "w.duckdb").unlink()
    con, _ = _ingest(tmp_path, landing, fallback_encoding="shift_jis")
    rule, reason = _quarantine(con)[("gbk.csv", 3)]
    assert rule == "not_utf8" and "not shift_jis either" in reason


def test_records_from_the_future_are_quarantined(tmp_path):
    landing, day = _landing(tmp_path)
    (day / "feed.csv").write_text("\n".join([HEADER, _line("ok"), _line("late", at="2099-01-01 10:00:00"), ""]))
    con, report = _ingest(tmp_path, landing)
    assert report.quarantined_by_rule == {"future_timestamp": 1}
    assert _quarantine(con)[("feed.csv", 3)][0] == "future_timestamp"


def test_a_large_file_loads_in_bounded_memory(tmp_path):
    """A CSV several times DuckDB's memory cap loads whole, and the process grows by about the cap,
    not by the file (the routed records spill to disk). The 2 GB run is bench/big_file.py."""
    day = tmp_path / "landing" / "transactions" / f"date={DAY}"
    day.mkdir(parents=True)
    write_transactions_csv(day / "big.csv", 4_000_000)
    landing = tmp_path / "landing"
    size_mb = (day / "big.csv").stat().st_size / 2**20
    peak_mb, (rows_in, accepted, quarantined) = ingest_in_subprocess(landing, tmp_path / "w.duckdb", "100MB")
    idle_mb, _ = ingest_in_subprocess(landing, tmp_path / "idle.duckdb", "100MB", tables=("products",))
    print(f"{size_mb:.0f} MB CSV, 4,000,000 rows, DuckDB capped at 100 MB: peak resident {peak_mb} MB "
          f"({idle_mb} MB for the same process loading only the catalogue)")
    assert (rows_in, accepted, quarantined) == (4_000_000, 3_996_000, 4_000)
    assert peak_mb - idle_mb < 150 < size_mb, f"grew by {peak_mb - idle_mb} MB for a {size_mb:.0f} MB file"


@pytest.mark.parametrize("name", ["销售 2025-03-01.csv", "a'; DROP TABLE raw.transactions; --.csv"])
def test_a_file_name_is_data_not_sql(tmp_path, name):
    landing, day = _landing(tmp_path)
    target = day / name
    target.write_text("\n".join([HEADER, _line("x1"), ""]))
    con, report = _ingest(tmp_path, landing)
    assert report.accepted == 1
    assert con.execute("SELECT _source_file FROM raw.transactions").fetchone()[0] == str(target)
