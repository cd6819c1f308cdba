"""The commerce API shares ids with the warehouse: seeding from the marts of a real pipeline run."""

from __future__ import annotations

import duckdb
from sqlalchemy import func, select

from commerce_api import inventory
from commerce_api.app import build_services
from commerce_api.schema import Customer, Location, Sku
from commerce_api.seed import seed_from_warehouse
from data.settings import Settings
from tests.helpers import run_cli


def test_seed_from_marts_is_complete_and_idempotent(small_home, pg_url, tmp_path):
    warehouse = small_home / "warehouse" / "smartmall.duckdb"
    svc = build_services(Settings(commerce_database_url=pg_url, home=tmp_path))
    first = seed_from_warehouse(svc.sessions, warehouse)
    again = seed_from_warehouse(svc.sessions, warehouse)
    assert again["opening stock rows"] == 0 and first["opening stock rows"] > 0
    assert first["stock rows left out (unknown SKU or location)"] == 0
    con = duckdb.connect(str(warehouse), read_only=True)
    n_sku, n_store, n_customer = (con.execute(f"SELECT count(*) FROM marts.{t}").fetchone()[0]
                                  for t in ("dim_product", "dim_store", "dim_customer"))
    last_stock = dict(((r[0], r[1]), r[2]) for r in con.execute(
        "SELECT sku, location_id, on_hand FROM marts.fct_inventory_daily WHERE on_hand > 0 AND stock_date = "
        "(SELECT max(stock_date) FROM marts.fct_inventory_daily)").fetchall())
    con.close()
    with svc.sessions() as s:
        assert s.execute(select(func.count()).select_from(Sku)).scalar_one() == n_sku
        assert s.execute(select(func.count()).select_from(Location)).scalar_one() == n_store
        assert s.execute(select(func.count()).select_from(Customer)).scalar_one() == n_customer
        levels = {(lv.sku, lv.location_id): lv.on_hand for lv in inventory.levels(s)}
        assert levels == last_stock  # on hand equals the warehouse's last stock day, row for row
        assert inventory.ledger_mismatches(s) == []
    svc.sessions.kw["bind"].dispose()


def test_api_cli_migrates_issues_keys_and_seeds(small_home, tmp_path):
    env_home = tmp_path / "home"
    (env_home / "warehouse").mkdir(parents=True)
    (env_home / "warehouse" / "smartmall.duckdb").symlink_to(small_home / "warehouse" / "smartmall.duckdb")
    key = run_cli(env_home, "api", "create-key", "--role", "admin").stdout.strip().splitlines()[-1]
    assert key.startswith("sm_admi_")
    out = run_cli(env_home, "api", "seed").stdout
    assert "opening stock rows" in out and (env_home / "commerce" / "commerce.db").exists()
    bad = run_cli(env_home, "api", "create-key", "--role", "shopper", check=False)
    assert bad.returncode != 0 and "customer_id" in bad.stderr
