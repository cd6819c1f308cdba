"""Bring your own data: a folder of Parquet or CSV files in the canonical contract -> landing.

The folder holds ``transactions`` (required) and optionally ``products``, ``customers``,
``stores``, ``events``, ``iot_readings``, ``inventory_movements``, ``stock_positions``: each either one file named
after the table (``transactions.csv``, ``products.parquet``) or a sub-folder of such files.
Values are read as text, so nothing is coerced or dropped here: ingestion checks every record
and quarantines the bad ones with their reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from data.contract import TABLES
from data.importers.landing import reset_landing, write_manifest, write_table


class ContractError(ValueError):
    """A file that does not follow the contract (unreadable, or a required column missing)."""


def find_files(folder: Path, table: str) -> list[Path]:
    files = [folder / f"{table}{ext}" for ext in (".parquet", ".csv")]
    found = [f for f in files if f.is_file()]
    sub = folder / table
    if sub.is_dir():
        found += sorted(p for p in sub.rglob("*") if p.suffix.lower() in (".parquet", ".csv"))
    return found


def read_as_text(path: Path) -> pl.DataFrame:
    try:
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path, infer_schema=False)
        df = pl.read_parquet(path)
    except Exception as exc:  # any reader error: say which file and why
        raise ContractError(f"{path}: cannot be read: {str(exc).splitlines()[0]}") from exc
    return df.select(pl.all().cast(pl.Utf8))


def import_folder(folder: Path, out: Path, append: bool = False,
                  progress: Callable[[str], None] | None = None) -> dict:
    """Import your files into the landing folder ``out`` (emptied first unless ``append``);
    ``progress`` gets a line per file read and per table written."""
    folder = Path(folder)
    say = progress or (lambda _: None)
    if not find_files(folder, "transactions"):
        raise ContractError(f"{folder}: no transactions file (transactions.csv, transactions.parquet "
                            "or a transactions/ folder); see the README's data contract")
    frames: dict[str, list[tuple[Path, pl.DataFrame]]] = {}
    ignored: dict[str, list[str]] = {}
    for name, table in TABLES.items():
        for path in find_files(folder, name):
            df = read_as_text(path)
            say(f"  read {path.relative_to(folder)}: {df.height:,} rows")
            required = [c.name for c in table.columns if c.required]
            missing = [c for c in required if c not in df.columns]
            if missing:
                raise ContractError(f"{path}: missing required column(s) {missing} for '{name}'; "
                                    f"found {df.columns}")
            unknown = [c for c in df.columns if c not in table.column_names]
            if unknown:  # not part of the contract: not loaded, and said so in the manifest
                ignored[str(path)] = unknown
            frames.setdefault(name, []).append((path, df))
    if not append:
        reset_landing(out)
    rows: dict[str, int] = {}
    for name, parts in frames.items():
        for path, df in parts:
            rows[name] = rows.get(name, 0) + write_table(df, name, out, f"byod_{path.stem}")
        say(f"  landed {name}: {rows[name]:,} rows ({len(frames)} tables in all)")
    return write_manifest(out, "folder", rows, path=str(folder), ignored_columns=ignored)
