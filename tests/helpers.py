"""Helpers for the tests: where the real data is (shipped in the repository), and running the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
ONLINE_RETAIL = REPO / "data" / "samples" / "online_retail" / "online_retail_uci.parquet"


def run_cli(home: Path, *args: str, check: bool = True, unset: tuple[str, ...] = (),
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the ``smartmall`` command in a fresh process with ``SMARTMALL_HOME=home``, without the
    environment variables ``unset`` and with those in ``env``."""
    env = {k: v for k, v in os.environ.items() if k not in unset} | (env or {}) | {"SMARTMALL_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        log = home / "logs" / "last_run.log"
        tail = log.read_text()[-4000:] if log.exists() else ""
        raise AssertionError(f"smartmall {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}\n{tail}")
    return proc


def query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse" / "smartmall.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
