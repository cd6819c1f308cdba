"""A read-only copy of the marts for readers that must never block the pipeline (the dashboards).

DuckDB lets one process write a database file, and a reader holding it open would stop the next
``smartmall run`` from opening it. So the pipeline publishes the marts, after every run, into a
file of their own, written aside and moved into place in one rename: a reader keeps the copy it
opened (the old file lives on while open) and sees the new one on its next connection.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from data.settings import SNAPSHOT_NAME  # noqa: F401  (where the snapshot lives is a setting)


def publish(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, int]:
    """Copy every table of the ``marts`` schema of ``con``'s database into ``path`` (replacing it
    whole); returns {table: rows}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".new")
    staging.unlink(missing_ok=True)
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' AND table_type = 'BASE TABLE' "
        "AND table_catalog = current_database() ORDER BY 1").fetchall()]
    views = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' AND table_type = 'VIEW' "
        "AND table_catalog = current_database() ORDER BY 1").fetchall()]
    con.execute(f"ATTACH '{staging}' AS snapshot")
    try:
        con.execute("CREATE SCHEMA snapshot.marts")
        counts = {}
        for name in tables + views:  # dbt may build a mart as a view: the copy is a table either way
            con.execute(f'CREATE TABLE snapshot.marts."{name}" AS SELECT * FROM marts."{name}"')
            counts[name] = con.execute(f'SELECT count(*) FROM snapshot.marts."{name}"').fetchall()[0][0]
    finally:
        con.execute("DETACH snapshot")
    os.replace(staging, path)
    return counts
