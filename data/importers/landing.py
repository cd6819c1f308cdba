"""Write frames into the landing layout: daily tables split by feed day, reference tables as snapshots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl

from data.contract import TABLES


def reset_landing(out: Path) -> None:
    """Empty a landing folder so that one import is one source (importing again gives the same files)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)


def write_table(frame: pl.DataFrame, table_name: str, out: Path, stem: str) -> int:
    """Write ``frame`` as ``table_name`` under ``out``; returns rows written.

    Daily tables go to ``<table>/date=YYYY-MM-DD/<stem>.parquet`` by the date of their time
    column. A record whose timestamp does not parse still lands (with the file's first day), so
    that ingestion quarantines it with its reason instead of it being lost here.
    """
    table = TABLES[table_name]
    target = out / table.name
    target.mkdir(parents=True, exist_ok=True)
    frame = frame.select([c for c in frame.columns if c in table.column_names])
    if not table.daily:
        frame.write_parquet(target / f"{stem}.parquet")
        return len(frame)
    con = duckdb.connect()
    con.register("frame", frame.to_arrow())
    ts = table.time_column
    con.execute(
        f"""
        CREATE TEMP TABLE dated AS
        SELECT *, strftime(coalesce(try_cast(CAST("{ts}" AS VARCHAR) AS TIMESTAMP),
                                    min(try_cast(CAST("{ts}" AS VARCHAR) AS TIMESTAMP)) OVER (),
                                    current_date::TIMESTAMP), '%Y-%m-%d') AS date
        FROM frame
        """
    )
    # one file per feed day, named after the source so a re-import overwrites rather than adds
    con.execute(
        f"COPY dated TO '{target}' (FORMAT parquet, PARTITION_BY (date), OVERWRITE_OR_IGNORE, "
        f"FILENAME_PATTERN '{stem}')"
    )
    n = con.execute("SELECT count(*) FROM dated").fetchone()[0]
    con.close()
    return int(n)


def write_manifest(out: Path, source: str, rows: dict[str, int], **extra: object) -> dict:
    days = sorted(p.name[5:] for p in out.glob("*/date=*") if p.is_dir())
    manifest = {"source": source, "start": days[0] if days else None, "end": days[-1] if days else None,
                "rows": rows, **extra}
    (out / "_manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
