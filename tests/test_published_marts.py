"""The marts over the Python models' outputs are dbt models under enforced contracts: an output that
drifts from its contract fails the build (and the mart stays as it was), and the empty case written
from the contract builds every mart with the full run's columns."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.environment import DBT_PROJECT_DIR
from pipelines.marts import write_empty

OUTPUTS = ("customer_rfm", "customer_value", "customer_churn_risk", "association_rules", "frequently_bought_together",
           "forecasts", "replenishment_suggestions", "transfer_suggestions", "stock_alerts",
           "customer_recommendations", "similar_items", "popular_items", "coupon_recommendations")


@pytest.fixture()
def warehouse(small_home, tmp_path, monkeypatch):
    db = tmp_path / "w.duckdb"
    shutil.copy(small_home / "warehouse" / "smartmall.duckdb", db)
    monkeypatch.setenv("SMARTMALL_DUCKDB_PATH", str(db))
    return db


def _build(select: str, tmp_path) -> subprocess.CompletedProcess:
    """``dbt build`` in its own process (dbt-duckdb holds the file open while its process lives)."""
    return subprocess.run([str(Path(sys.executable).parent / "dbt"), "build", "--select", select, "--project-dir",
                           str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                           "--target-path", str(tmp_path / "target")],
                          capture_output=True, text=True, timeout=600, env=os.environ.copy())


def _columns(db, schema: str, table: str) -> list[tuple[str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
                           "AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()


def test_an_output_that_drifts_from_its_contract_fails_the_build(warehouse, tmp_path):
    before = _columns(warehouse, "marts", "customer_value")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("ALTER TABLE model_outputs.customer_value DROP COLUMN p_alive")
        con.execute("ALTER TABLE model_outputs.customer_rfm ALTER frequency TYPE VARCHAR")
    for mart in ("customer_value", "customer_rfm"):
        result = _build(mart, tmp_path)
        assert result.returncode != 0 and "enforced contract that failed" in result.stdout, result.stdout[-3000:]
    assert _columns(warehouse, "marts", "customer_value") == before  # the published mart is untouched
    assert _build("customer_churn_risk", tmp_path).returncode == 0


def test_the_empty_case_comes_from_the_contracts(warehouse, tmp_path):
    full = {name: _columns(warehouse, "marts", name) for name in OUTPUTS}
    with duckdb.connect(str(warehouse)) as con:
        write_empty(con, OUTPUTS)
    built = _build("source:model_outputs+", tmp_path)
    assert built.returncode == 0, built.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for name in OUTPUTS:
            assert con.execute(f"SELECT count(*) FROM marts.{name}").fetchone()[0] == 0
        # the marts built over them are empty too, or keep every member (the profile)
        assert con.execute("SELECT count(*) FROM marts.winback_list").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM marts.customer_profile WHERE clv_365d IS NOT NULL").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM marts.customer_profile").fetchone()[0] == \
            con.execute("SELECT count(*) FROM marts.dim_customer").fetchone()[0]
    assert {name: _columns(warehouse, "marts", name) for name in OUTPUTS} == full
