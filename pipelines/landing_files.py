"""Screening landed files before their records are routed: which can be read and how, which cannot and why.

A file that cannot be read as a whole (truncated Parquet, an encoding that is not declared, no
record at all, a required column missing, a type we do not read) becomes one ``Refusal`` naming the
file, and the line where there is one; the ingestion quarantines it and loads the other files of
its batch. Nothing is dropped in silence: only hidden files and ``_``-prefixed markers (``_SUCCESS``
of Spark/Hadoop exports) are passed over.

CSV files are read as UTF-8 (a UTF-8 or UTF-16 byte-order mark is honoured). A CSV that is not
UTF-8 is transcoded, streaming, from ``fallback_encoding`` (``SMARTMALL_CSV_FALLBACK_ENCODING``,
GB18030 by default: the superset of GBK that Chinese Excel and ERP exports write) into a scratch
copy; if it is not that either, it is refused with the first line that decodes in neither.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from data.contract import Table

SUPPORTED_SUFFIXES = (".parquet", ".csv")
DEFAULT_FALLBACK_ENCODING = "gb18030"
_CHUNK = 1 << 24  # bytes read at a time: memory stays bounded whatever the file's size

# file-level rules (a record's rules are in data.contract); each refusal carries its own reason
FILE_RULES = ("unsupported_file", "empty_file", "unreadable_file", "missing_column", "not_utf8", "malformed_line")


@dataclass(frozen=True)
class LandedFile:
    """A file whose records can be read. ``columns``: name -> type as read; ``read_path`` is the
    file itself, or its UTF-8 copy in the scratch folder."""

    batch: str
    path: Path
    columns: dict[str, str]
    read_path: Path
    delimiter: str = ","

    @property
    def kind(self) -> str:
        return self.path.suffix.lower()


@dataclass(frozen=True)
class Refusal:
    """A file, or a line of one, that is quarantined instead of loaded."""

    batch: str
    path: Path
    rule: str
    reason: str
    line: int | None = None
    text: str | None = None


def is_data_file(path: Path) -> bool:
    """Everything that lands is a data file but hidden files and ``_``-prefixed markers."""
    return path.is_file() and not path.name.startswith((".", "_"))


def screen(con: duckdb.DuckDBPyConnection, table: Table, files: Sequence[tuple[str, Path]],
           fallback_encoding: str | None, scratch: Path) -> tuple[list[LandedFile], list[Refusal]]:
    """Split ``(batch, path)`` pairs into readable files and refusals, in the given order."""
    readable: list[LandedFile] = []
    refusals: list[Refusal] = []
    parquet_columns = _parquet_columns(con, [p for _, p in files if p.suffix.lower() == ".parquet"])
    required = {c.name for c in table.columns if c.required}
    for batch, path in files:
        kind = path.suffix.lower()
        if kind not in SUPPORTED_SUFFIXES:
            refusals.append(Refusal(batch, path, "unsupported_file",
                                    f"{path.name}: not a .csv or .parquet file, so not read"))
            continue
        if path.stat().st_size == 0:
            refusals.append(Refusal(batch, path, "empty_file", f"{path.name}: the file is empty (0 bytes)"))
            continue
        try:
            read_path = _utf8(path, fallback_encoding, scratch) if kind == ".csv" else path
            delimiter = _delimiter(read_path) if kind == ".csv" else ","
            columns = (_csv_header(read_path, delimiter) if kind == ".csv"
                       else parquet_columns.get(str(path)) or describe(con, read_path))
        except _Refused as refused:
            refusals.append(Refusal(batch, path, refused.rule, f"{path.name}: {refused}", refused.line))
            continue
        missing = required - set(columns)
        if missing:
            refusals.append(Refusal(batch, path, "missing_column",
                                    f"{path.name}: no required column {sorted(missing)} for table "
                                    f"'{table.name}' (found {sorted(columns)})"))
            continue
        readable.append(LandedFile(batch, path, columns, read_path, delimiter))
    return readable, refusals


def csv_reader(file: LandedFile, rejects: str | None = None) -> str:
    """read_csv of one file, every column as text. The dialect is the header's, not sniffed (DuckDB's
    sniffer gives up on a short file with one malformed line); with ``rejects``, malformed lines go
    to the temporary tables ``<rejects>`` and ``<rejects>_scans`` instead of failing the scan."""
    columns = "{" + ", ".join(f"'{sql_str(c)}': 'VARCHAR'" for c in file.columns) + "}"
    options = f", store_rejects=true, rejects_table='{rejects}', rejects_scan='{rejects}_scans'" if rejects else ""
    return (f"read_csv('{sql_str(str(file.read_path))}', auto_detect=false, header=true, "
            f"delim='{sql_str(file.delimiter)}', quote='\"', escape='\"', columns={columns}, "
            f"hive_partitioning=false{options})")


def parquet_reader(paths: Sequence[Path]) -> str:
    listed = "[" + ", ".join(f"'{sql_str(str(p))}'" for p in paths) + "]"
    return f"read_parquet({listed}, filename=true, file_row_number=true, hive_partitioning=false)"


def describe(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    """A Parquet file's columns: name -> type."""
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {parquet_reader([path])}").fetchall()
    except duckdb.Error as exc:
        raise _Refused("unreadable_file", f"cannot be read as parquet: {first_line(exc)}") from exc
    return {name: type_ for name, type_, *_ in rows if name not in ("filename", "file_row_number")}


def sql_str(text: str) -> str:
    return text.replace("'", "''")


def first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class _Refused(Exception):
    def __init__(self, rule: str, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.rule, self.line = rule, line


def _parquet_columns(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> dict[str, dict[str, str]]:
    """Columns of every readable Parquet file in one metadata read; {} when one of them is not
    readable (each is then described alone, so the broken one is named)."""
    if not paths:
        return {}
    listed = "[" + ", ".join(f"'{sql_str(str(p))}'" for p in paths if p.stat().st_size) + "]"
    if listed == "[]":
        return {}
    try:
        rows = con.execute(f"SELECT file_name, name, type, converted_type, logical_type, num_children "
                           f"FROM parquet_schema({listed})").fetchall()
    except duckdb.Error:
        return {}
    columns: dict[str, dict[str, str]] = {}
    open_groups: list[int] = []  # children still to come at each depth; the schema is a flattened tree
    for file_name, name, type_, converted, logical, children in rows:
        if not open_groups:  # the root element of the next file
            columns[file_name] = {}
            if children:
                open_groups.append(children)
            continue
        if len(open_groups) == 1:  # a top-level column (a nested one's leaves follow it)
            columns[file_name][name] = f"{type_}/{converted}/{logical}" if not children else f"group of {children}"
        open_groups[-1] -= 1
        if children:
            open_groups.append(children)
        while open_groups and open_groups[-1] == 0:
            open_groups.pop()
    return columns


def _delimiter(path: Path) -> str:
    """The one of , ; TAB | that the header line holds most of (a comma when it holds none)."""
    with path.open("rb") as f:
        header = f.readline(1 << 16)
    counts = {d: header.count(d.encode()) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _csv_header(path: Path, delimiter: str) -> dict[str, str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        names = next(csv.reader(f, delimiter=delimiter), [])
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise _Refused("unreadable_file", f"the header repeats column(s) {repeated}", 1)
    return {name: "VARCHAR" for name in names}


def _utf8(path: Path, fallback_encoding: str | None, scratch: Path) -> Path:
    """``path`` when it is UTF-8, else a UTF-8 copy of it decoded from UTF-16 (by its byte-order
    mark) or ``fallback_encoding``; raises _Refused naming the first line that does not decode."""
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _transcode(path, "utf-16", scratch)
    bad_line = _first_non_utf8_line(path)
    if bad_line is None:
        return path
    if not fallback_encoding:
        raise _Refused("not_utf8", f"line {bad_line} is not UTF-8 (set SMARTMALL_CSV_FALLBACK_ENCODING to "
                                   "the file's encoding, e.g. gb18030)", bad_line)
    return _transcode(path, fallback_encoding, scratch, bad_line)


def _first_non_utf8_line(path: Path) -> int | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 1
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return lines_before + chunk.count(b"\n", 0, max(exc.start, 0))
            lines_before += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return lines_before
    return None


def _transcode(path: Path, encoding: str, scratch: Path, utf8_line: int | None = None) -> Path:
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise _Refused("not_utf8", f"line {utf8_line} is not UTF-8, and '{encoding}' is not an encoding "
                                   "this Python knows", utf8_line) from exc
    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / f"{hashlib.sha1(str(path).encode()).hexdigest()[:16]}.csv"
    lines_before = 1
    with path.open("r", encoding=encoding, errors="strict", newline="") as src, \
            copy.open("w", encoding="utf-8", newline="") as dst:
        while True:
            try:
                text = src.read(_CHUNK // 4)
            except UnicodeDecodeError as exc:
                raise _Refused("not_utf8", f"line {utf8_line} is not UTF-8, and the file is not {encoding} either "
                               f"(from about line {lines_before}: {exc.reason})", utf8_line) from exc
            if not text:
                return copy
            dst.write(text.lstrip("\ufeff") if lines_before == 1 else text)
            lines_before += text.count("\n")
