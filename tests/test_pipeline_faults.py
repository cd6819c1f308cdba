"""The pipeline killed mid-run (SIGKILL of ``smartmall run`` and everything it started): during
ingestion, during ``dbt build`` and during the serving publish. The next run completes with the
marts of a clean run (no duplicate rows), and readers never see a half-built mart or snapshot: the
dashboards' snapshot and the API's published version keep answering with whole tables throughout."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from data.settings import SNAPSHOT_NAME
from serving import published
from tests.helpers import REPO, run_cli
from tests.test_pipeline import _check_invariants, _fingerprint

DAY = "2025-03-10"
READ = ("fct_order_lines", "fct_events", "fct_sales_daily", "customer_rfm")


def _snapshot_counts(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.sql(f"SELECT count(*) FROM marts.{t}").fetchall()[0][0] for t in READ}
    finally:
        con.close()


def _served_counts(root: Path) -> dict[str, int]:
    """Rows of the live version's tables, read whole each time (as a new API worker loads it)."""
    version = published.current(root)
    if version is None:
        return {}
    return {name: published.read_table(version, name).height for name in sorted(published.TABLES)}


class Readers(threading.Thread):
    """Reads the dashboards' snapshot and the API's published version over and over, noting anything
    that is not one of the whole states seen before the run (or an error)."""

    def __init__(self, home: Path, allowed_snapshot: list[dict], allowed_served: list[dict]):
        super().__init__(daemon=True)
        self.snapshot, self.published = home / "serving" / SNAPSHOT_NAME, home / "serving" / "published"
        self.allowed_snapshot, self.allowed_served = allowed_snapshot, allowed_served
        self.stop, self.reads, self.problems = threading.Event(), 0, []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                snap, served = _snapshot_counts(self.snapshot), _served_counts(self.published)
                if snap not in self.allowed_snapshot or served not in self.allowed_served:
                    self.problems.append((snap, served))
                self.reads += 1
            except Exception as exc:  # noqa: BLE001 - a reader's error is what the test looks for
                self.problems.append(repr(exc))
            time.sleep(0.05)


def _run_killed_at(home: Path, marker: str, delay: float = 0.0) -> str:
    """``smartmall run`` for one day, SIGKILLed (with dbt and every other child) once its output shows
    ``marker`` and ``delay`` more seconds passed; returns what it printed."""
    env = {**os.environ, "SMARTMALL_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--start", DAY, "--end", DAY], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                time.sleep(delay)
                os.killpg(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = "".join(seen)
    assert marker in output, f"the run ended before {marker!r}:\n{output[-3000:]}"
    assert proc.returncode == -signal.SIGKILL
    return output


@pytest.fixture(scope="module")
def home(small_home, tmp_path_factory) -> Path:
    """A copy of the demo's home, run once over ``DAY`` (so the commerce API's demo orders are in)."""
    out = tmp_path_factory.mktemp("killed") / "home"
    shutil.copytree(small_home, out, ignore=shutil.ignore_patterns("*.lock", "*.pid"))
    run_cli(out, "run", "--start", DAY, "--end", DAY)
    return out


def test_a_run_killed_in_ingestion_in_dbt_and_in_the_publish_leaves_whole_marts_and_the_next_completes(home):
    before = _fingerprint(home)
    snapshot, served = _snapshot_counts(home / "serving" / SNAPSHOT_NAME), \
        _served_counts(home / "serving" / "published")
    assert served and all(served.values())
    readers = Readers(home, [snapshot], [served])
    readers.start()
    try:
        _run_killed_at(home, "ingested customers")  # the other feeds still loading
        _run_killed_at(home, "ingested transactions", delay=2.0)  # dbt build under way
        _run_killed_at(home, "dbt build (marts over the model outputs)")  # the snapshot and serving publish next
        proc = run_cli(home, "run", "--start", DAY, "--end", DAY)
        assert "Pipeline succeeded" in proc.stdout
    finally:
        readers.stop.set()
        readers.join(timeout=30)
    assert readers.reads > 50 and readers.problems == []
    assert _fingerprint(home) == before  # nothing twice, nothing lost
    _check_invariants(home)
    assert _snapshot_counts(home / "serving" / SNAPSHOT_NAME) == snapshot


def test_reads_while_a_run_writes_the_warehouse_get_the_snapshot_or_a_plain_word(small_home, tmp_path):
    """DuckDB lets no reader beside a writing process: while a run holds the warehouse, a query of
    the marts is answered from their published snapshot, and one of raw tables gets a sentence
    saying why and when (no lock error, no traceback)."""
    home = tmp_path / "home"
    for part in ("warehouse/smartmall.duckdb", f"serving/{SNAPSHOT_NAME}"):
        (home / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(small_home / part, home / part)
    sql = "SELECT count(*), sum(revenue)::DOUBLE FROM marts.fct_sales_daily"
    expected = run_cli(home, "sql", sql).stdout
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
                               "print('holding', flush=True); time.sleep(120)", str(home / "warehouse/smartmall.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        during = run_cli(home, "sql", sql)
        assert during.stdout == expected and "answered from the marts snapshot" in during.stderr
        busy = run_cli(home, "status", check=False)
        assert busy.returncode != 0 and "a pipeline run is writing the warehouse" in busy.stderr
        assert "Traceback" not in busy.stderr and "IO Error" not in busy.stderr, busy.stderr[-2000:]
    finally:
        holder.kill()
        holder.wait()
    assert run_cli(home, "status").returncode == 0  # the run over, everything reads again
