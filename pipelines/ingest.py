"""Landing files -> ``raw.<table>`` in the warehouse, with record-level quarantine.

Plain functions over a DuckDB connection; the Dagster assets in ``pipelines.assets`` wrap them.

A batch is everything that landed for one table and one feed day (``date=YYYY-MM-DD``), or the
whole snapshot for a reference table. Loading a batch replaces what that batch loaded before, in
one transaction, so re-running a partition or re-importing the same file changes nothing.
Each record either lands in ``raw.<table>`` or in ``raw.quarantine`` with the rule that caught
it: ``rows_in == accepted + quarantined`` for every batch, and it is recorded in
``raw.ingest_log``.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from data.contract import LINE_LIMIT_VARIABLE, MAX_ABS_QUANTITY, TABLES, Table
from pipelines import commerce_ingest
from pipelines.landing_files import (
    DEFAULT_FALLBACK_ENCODING,
    FILE_RULES,
    LandedFile,
    Refusal,
    csv_reader,
    first_line,
    is_data_file,
    parquet_reader,
    screen,
    sql_str,
)

DATE_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})$")
DUPLICATE_KEY_RULE = "duplicate_key"
REJECTS = "ingest_rejects"  # DuckDB's temporary tables of the CSV lines its reader refused


class IngestError(RuntimeError):
    """A file that cannot be read at all; the message names the file and the reason."""


@dataclass(frozen=True)
class IngestReport:
    table: str
    batches: int
    files: int
    rows_in: int
    accepted: int
    quarantined: int
    seconds: float
    quarantined_by_rule: dict[str, int]
    schema_changes: list[str] = field(default_factory=list)  # raw tables brought up to the contract
    refused_files: list[str] = field(default_factory=list)  # files not loaded at all, with the reason

    def as_metadata(self) -> dict[str, object]:
        return asdict(self)


# A column may change to a type that holds every value of the old one; anything else needs a rebuild.
WIDENINGS = {("INTEGER", "BIGINT"), ("INTEGER", "DOUBLE"), ("BIGINT", "DOUBLE"), ("FLOAT", "DOUBLE"),
             ("DATE", "TIMESTAMP")}


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create the raw tables, quarantine and ingest log if they do not exist yet, and bring raw
    tables built under an older contract up to this one: a new column is added (NULL in the rows
    loaded before), a widened type is altered; a column the contract dropped is kept, NULL from now
    on. Returns what changed, one line each; a narrowing change raises IngestError."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    changes: list[str] = []
    for table in TABLES.values():
        cols = ", ".join(f'"{c.name}" {c.sql_type}' for c in table.columns)
        con.execute(
            f"CREATE TABLE IF NOT EXISTS raw.{table.name} ({cols}, _batch VARCHAR, "
            "_source_file VARCHAR, _ingested_at TIMESTAMP)"
        )
        changes += _evolve(con, table)
    con.execute(
        "CREATE TABLE IF NOT EXISTS raw.quarantine (source_table VARCHAR, _batch VARCHAR, "
        "_source_file VARCHAR, source_row BIGINT, rule VARCHAR, reason VARCHAR, record JSON, "
        "_ingested_at TIMESTAMP)"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS raw.ingest_log (source_table VARCHAR, _batch VARCHAR, files INTEGER, "
        "rows_in BIGINT, accepted BIGINT, quarantined BIGINT, _ingested_at TIMESTAMP)"
    )
    commerce_ingest.ensure_tables(con)  # dbt's staging reads them, empty until the API records something
    return changes


def _evolve(con: duckdb.DuckDBPyConnection, table: Table) -> list[str]:
    existing = dict(con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'raw' AND table_name = ? "
        "AND database_name = current_database()", [table.name]).fetchall())
    changes = []
    for column in table.columns:
        had = existing.get(column.name)
        if had is None:
            con.execute(f'ALTER TABLE raw.{table.name} ADD COLUMN "{column.name}" {column.sql_type}')
            changes.append(f"raw.{table.name}: added {column.name} {column.sql_type} (NULL in earlier loads)")
        elif had != column.sql_type:
            if (had, column.sql_type) not in WIDENINGS and column.sql_type != "VARCHAR":
                raise IngestError(f"raw.{table.name}.{column.name} is {had} in this warehouse and {column.sql_type} "
                                  "in the contract: not a widening, so the loaded rows cannot follow; rebuild "
                                  "with 'smartmall run --fresh'")
            con.execute(f'ALTER TABLE raw.{table.name} ALTER COLUMN "{column.name}" TYPE {column.sql_type}')
            changes.append(f"raw.{table.name}: {column.name} {had} -> {column.sql_type}")
    return changes


def landing_batches(landing: Path, table: Table) -> dict[str, list[Path]]:
    """Files that landed for ``table``, grouped by batch: feed day for daily tables, else 'snapshot'."""
    root = landing / table.name
    if not root.exists():
        return {}
    batches: dict[str, list[Path]] = {}
    if table.daily:
        for day_dir in sorted(root.iterdir()):
            match = DATE_DIR.search(day_dir.name)
            if day_dir.is_dir() and match:
                files = _data_files(day_dir)
                if files:
                    batches[match.group(1)] = files
    else:
        files = _data_files(root)
        if files:
            batches["snapshot"] = files
    return batches


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_data_file(p))


def ingest_table(
    con: duckdb.DuckDBPyConnection,
    table_name: str,
    landing: Path,
    batches: Iterable[str] | None = None,
    max_line_quantity: int = MAX_ABS_QUANTITY,
    fallback_encoding: str | None = DEFAULT_FALLBACK_ENCODING,
) -> IngestReport:
    """Load the given batches (all landed ones when None) of one table into ``raw``; a transaction
    line beyond ``max_line_quantity`` units is quarantined (the retailer's limit, see data.contract).

    A file that cannot be read (truncated, empty, a required column missing, an encoding that is
    neither UTF-8 nor ``fallback_encoding``) or a malformed CSV line is quarantined with its reason,
    naming the file and line (``pipelines.landing_files``); the rest of the batch loads. Raises
    IngestError only when the files cannot be read together for another reason; nothing of that
    call is written then.
    """
    started = time.perf_counter()
    table = TABLES[table_name]
    changes = ensure_raw_schema(con)
    available = landing_batches(landing, table)
    wanted = sorted(available) if batches is None else sorted(b for b in set(batches) if b in available)
    files = [(b, f) for b in wanted for f in available[b]]
    if not files:
        return IngestReport(table.name, 0, 0, 0, 0, 0, time.perf_counter() - started, {}, changes)

    # row order inside raw tables means nothing (the source file and row are kept as columns)
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET VARIABLE {LINE_LIMIT_VARIABLE} = {int(max_line_quantity)}")
    _create_known_views(con)
    _stage_and_route(con, table, files, fallback_encoding)
    _mark_duplicates(con, table)
    reasons = {r.name: r.reason for r in table.rules}
    reasons[DUPLICATE_KEY_RULE] = f"key ({', '.join(table.key)}) seen before in this or an earlier batch"
    reason_case = "CASE _rule " + " ".join(
        f"WHEN '{name}' THEN '{text.replace(chr(39), chr(39) * 2)}'" for name, text in reasons.items()
    ) + " END"

    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE these_batches AS SELECT DISTINCT _batch FROM routed")
        con.execute(f"DELETE FROM raw.{table.name} WHERE _batch IN (SELECT _batch FROM these_batches)")
        for meta in ("quarantine", "ingest_log"):
            con.execute(
                f"DELETE FROM raw.{meta} WHERE source_table = ? AND _batch IN (SELECT _batch FROM these_batches)",
                [table.name],
            )
        con.execute(  # by name: a warehouse evolved from an older contract has its columns in another order
            f"INSERT INTO raw.{table.name} BY NAME SELECT {', '.join(table.column_names)}, _batch, _source_file, "
            "now()::TIMESTAMP AS _ingested_at FROM routed WHERE _rule IS NULL"
        )
        con.execute(
            f"INSERT INTO raw.quarantine SELECT ?, _batch, _source_file, _source_row, _rule, coalesce(_reason, {reason_case}), "
            "_record, now()::TIMESTAMP FROM routed WHERE _rule IS NOT NULL",
            [table.name],
        )
        con.execute(
            "INSERT INTO raw.ingest_log SELECT ?, _batch, count(DISTINCT _source_file), count(*), "
            "count(*) FILTER (WHERE _rule IS NULL), count(*) FILTER (WHERE _rule IS NOT NULL), now()::TIMESTAMP "
            "FROM routed GROUP BY _batch",
            [table.name],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise

    rows_in, accepted, quarantined = con.execute(
        "SELECT sum(rows_in), sum(accepted), sum(quarantined) FROM raw.ingest_log "
        "WHERE source_table = ? AND _batch IN (SELECT _batch FROM these_batches)", [table.name]
    ).fetchone()
    by_rule = dict(con.execute(
        "SELECT rule, count(*) FROM raw.quarantine WHERE source_table = ? "
        "AND _batch IN (SELECT _batch FROM these_batches) GROUP BY 1 ORDER BY 1", [table.name]
    ).fetchall())
    refused = [r for (r,) in con.execute(
        "SELECT reason FROM raw.quarantine WHERE source_table = ? AND _batch IN (SELECT _batch FROM these_batches) "
        f"AND rule IN ({', '.join(repr(r) for r in FILE_RULES if r != 'malformed_line')}) ORDER BY _source_file",
        [table.name]).fetchall()]
    con.execute("DROP TABLE IF EXISTS routed")
    con.execute("DROP TABLE IF EXISTS these_batches")
    return IngestReport(
        table=table.name,
        batches=len(wanted),
        files=len(files),
        rows_in=int(rows_in),
        accepted=int(accepted),
        quarantined=int(quarantined),
        seconds=round(time.perf_counter() - started, 3),
        quarantined_by_rule={str(k): int(v) for k, v in by_rule.items()},
        schema_changes=changes,
        refused_files=refused,
    )


def _stage_and_route(con: duckdb.DuckDBPyConnection, table: Table, files: Sequence[tuple[str, Path]],
                     fallback_encoding: str | None) -> None:
    """Read every file as text columns into TEMP table ``routed``, with batch, file, row and the
    first rule each record violates (``_rule``, NULL for a good record): one pass over the data.
    A file or line that cannot be read is a routed row of its own, with its reason (``_reason``)."""
    with tempfile.TemporaryDirectory(prefix="smartmall-ingest-") as scratch:
        readable, refusals = screen(con, table, files, fallback_encoding, Path(scratch))
        while True:
            try:
                _route(con, table, readable)
                break
            except duckdb.Error as exc:  # a file broken past its metadata (a corrupt page): find it, go on without it
                broken = _unreadable(con, readable)
                if broken is None:
                    raise IngestError(f"landing files of '{table.name}' could not be read together: "
                                      f"{first_line(exc)}") from exc
                readable.remove(broken.file)
                refusals.append(broken.refusal)
        _add_malformed_lines(con, [f for f in readable if f.kind == ".csv"])
    read = {name for (name,) in con.execute("SELECT DISTINCT _source_file FROM routed").fetchall()}
    refusals += [Refusal(f.batch, f.path, "empty_file", f"{f.path.name}: no records (a header only)")
                 for f in readable if str(f.path) not in read]
    if refusals:
        con.executemany(
            "INSERT INTO routed (_batch, _source_file, _source_row, _rule, _reason, _record) VALUES (?, ?, ?, ?, ?, ?)",
            [[r.batch, str(r.path), r.line, r.rule, r.reason, json.dumps({"file": str(r.path), "line": r.line})]
             for r in refusals])


def _route(con: duckdb.DuckDBPyConnection, table: Table, readable: Sequence[LandedFile]) -> None:
    nothing = ", ".join(f'CAST(NULL AS VARCHAR) AS "{c}"' for c in table.column_names)
    selects = [f"SELECT {nothing}, CAST(NULL AS VARCHAR) AS _batch, CAST(NULL AS VARCHAR) AS _source_file, "
               "CAST(NULL AS BIGINT) AS _source_row WHERE false"]
    parquet_groups: dict[tuple[tuple[str, str], ...], list[LandedFile]] = {}
    for f in readable:  # Parquet files of one schema are read together; files of another type apart
        if f.kind == ".parquet":
            parquet_groups.setdefault(tuple(sorted(f.columns.items())), []).append(f)
    batch = "regexp_extract(filename, 'date=(\\d{4}-\\d{2}-\\d{2})', 1)" if table.daily else "'snapshot'"
    for group in parquet_groups.values():
        selects.append(f"SELECT {_text_columns(table, group[0].columns)}, {batch} AS _batch, filename AS _source_file, "
                       f"file_row_number + 1 AS _source_row FROM {parquet_reader([f.path for f in group])}")
    for f in readable:  # one scan per CSV: its rows numbered in order = its lines (the header is line 1)
        if f.kind == ".csv":
            selects.append(f"SELECT {_text_columns(table, f.columns)}, '{sql_str(f.batch)}' AS _batch, "
                           f"'{sql_str(str(f.path))}' AS _source_file, row_number() OVER () + 1 AS _source_row "
                           f"FROM {csv_reader(f, REJECTS)}")
    for name in (REJECTS, f"{REJECTS}_scans"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    typed = ", ".join(_cast(c.name, c.sql_type) for c in table.columns)
    # typed values for every record, the text as landed only for the records a rule refuses
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE routed AS SELECT {typed}, _batch, _source_file, _source_row, _rule, "
        f"CAST(NULL AS VARCHAR) AS _reason, CASE WHEN _rule IS NOT NULL THEN {_record_json(table)} END AS _record "
        f"FROM (SELECT *, {_routing_case(table)} AS _rule FROM ("
        + " UNION ALL BY NAME ".join(selects) + "))"
    )


def _text_columns(table: Table, present: dict[str, str]) -> str:
    return ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' if c in present else f'CAST(NULL AS VARCHAR) AS "{c}"'
                     for c in table.column_names)


def _add_malformed_lines(con: duckdb.DuckDBPyConnection, csvs: Sequence[LandedFile]) -> None:
    """Lines the CSV reader refused (too many or too few fields, a broken quote) become routed rows
    naming their line; the good rows after them in the same file get their true line numbers."""
    if not csvs or not con.execute(f"SELECT count(*) FROM {REJECTS}").fetchone()[0]:
        return
    files = ", ".join(f"('{sql_str(str(f.read_path))}', '{sql_str(str(f.path))}', '{sql_str(f.batch)}')" for f in csvs)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE malformed AS
        SELECT f.path, f.batch, e.line, e.error_message, e.csv_line,
               row_number() OVER (PARTITION BY f.path ORDER BY e.line) AS nth
        FROM {REJECTS} e JOIN {REJECTS}_scans s USING (scan_id, file_id)
        JOIN (VALUES {files}) AS f(read_path, path, batch) ON f.read_path = s.file_path""")
    # a good record numbered r + 1 sits below every malformed line i with line_i - i < r + 1
    con.execute("""
        UPDATE routed SET _source_row = _source_row + (
            SELECT count(*) FROM malformed m WHERE m.path = routed._source_file AND m.line - m.nth < routed._source_row)
        WHERE _source_file IN (SELECT path FROM malformed)""")
    con.execute("""
        INSERT INTO routed (_batch, _source_file, _source_row, _rule, _reason, _record)
        SELECT batch, path, line, 'malformed_line',
               regexp_extract(path, '[^/]+$') || ': line ' || line || ': ' || error_message,
               to_json({'file': path, 'line': line, 'text': csv_line})
        FROM malformed""")
    con.execute("DROP TABLE malformed")


@dataclass(frozen=True)
class _Broken:
    file: LandedFile
    refusal: Refusal


def _unreadable(con: duckdb.DuckDBPyConnection, readable: Sequence[LandedFile]) -> _Broken | None:
    for f in readable:
        reader = csv_reader(f, "probe_rejects") if f.kind == ".csv" else parquet_reader([f.path])
        try:
            con.execute(f"SELECT count(*) FROM {reader}").fetchall()
        except (duckdb.OutOfMemoryException, duckdb.InterruptException):
            raise  # the machine's limit, not the file's fault
        except duckdb.Error as exc:
            return _Broken(f, Refusal(f.batch, f.path, "unreadable_file",
                                      f"{f.path.name}: cannot be read: {first_line(exc)}"))
    return None


def _mark_duplicates(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Flag repeated keys among the records that pass every other rule.

    A broken copy of a record must not push the good one out, so only good records compete;
    within the load the first (by file, row) wins, and a key that an earlier batch already loaded
    is a duplicate too (a re-sent event). Keys are matched by hash aggregation and semi-joins,
    and only the rare repeated keys are ranked.
    """
    key = ", ".join(table.key)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE dup_rows AS
        WITH repeated AS (
            SELECT {key} FROM routed WHERE _rule IS NULL GROUP BY {key} HAVING count(*) > 1
        ), ranked AS (
            SELECT _source_file, _source_row,
                   row_number() OVER (PARTITION BY {key} ORDER BY _source_file, _source_row) AS n
            FROM routed SEMI JOIN repeated USING ({key}) WHERE _rule IS NULL
        ), earlier AS (
            SELECT _source_file, _source_row FROM routed
            SEMI JOIN (SELECT {key} FROM raw.{table.name}
                       WHERE _batch NOT IN (SELECT DISTINCT _batch FROM routed)) AS loaded USING ({key})
            WHERE _rule IS NULL
        )
        SELECT _source_file, _source_row FROM ranked WHERE n > 1
        UNION SELECT _source_file, _source_row FROM earlier
        """
    )
    if con.execute("SELECT count(*) FROM dup_rows").fetchone()[0]:
        con.execute(
            f"UPDATE routed SET _rule = '{DUPLICATE_KEY_RULE}', _record = {_record_json(table)} FROM dup_rows d "
            "WHERE routed._source_file = d._source_file AND routed._source_row = d._source_row"
        )
    con.execute("DROP TABLE dup_rows")


def _routing_case(table: Table) -> str:
    """The first rule a record violates, or NULL."""
    whens = " ".join(f"WHEN coalesce(({r.violation}), false) THEN '{r.name}'" for r in table.rules)
    return f"CASE {whens} ELSE NULL END"


def _create_known_views(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE OR REPLACE TEMP VIEW known_products AS SELECT sku FROM raw.products")
    con.execute("CREATE OR REPLACE TEMP VIEW known_stores AS SELECT store_id FROM raw.stores")


def _cast(name: str, sql_type: str) -> str:
    """Text -> contract type; NULL where it does not parse (such a record is refused by a rule)."""
    col = f'nullif("{name}", \'\')'
    if sql_type in ("INTEGER", "BIGINT"):
        return f"try_cast(try_cast({col} AS DOUBLE) AS {sql_type}) AS \"{name}\""
    if sql_type == "VARCHAR":
        return f'{col} AS "{name}"'
    return f'try_cast({col} AS {sql_type}) AS "{name}"'


def _record_json(table: Table) -> str:
    return "to_json({" + ", ".join(f"'{c}': \"{c}\"" for c in table.column_names) + "})"
