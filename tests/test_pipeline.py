"""End to end: the whole Dagster graph (ingest -> dbt build) through the ``smartmall`` CLI."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from data.contract import TABLES
from tests.helpers import ONLINE_RETAIL, query, run_cli

MARTS = ["dim_customer", "dim_product", "dim_store", "fct_orders", "fct_order_lines", "fct_events", "fct_sessions",
         "fct_funnel_daily", "fct_sales_daily", "fct_inventory_daily", "fct_footfall_hourly"]


def _landed_rows(landing, table) -> int:
    glob = f"{landing}/{table}/*/*" if TABLES[table].daily else f"{landing}/{table}/*"
    files = [p for p in landing.glob(f"{table}/**/*") if p.suffix in (".parquet", ".csv")]
    if not files:
        return 0
    reader = "read_parquet" if files[0].suffix == ".parquet" else "read_csv"
    return duckdb.connect().execute(f"SELECT count(*) FROM {reader}('{glob}.{files[0].suffix[1:]}')").fetchone()[0]


def _fingerprint(home) -> dict[str, tuple]:
    out = {}
    for mart in MARTS:
        cols = [r[0] for r in query(home, f"SELECT column_name FROM information_schema.columns "
                                          f"WHERE table_schema = 'marts' AND table_name = '{mart}' "
                                          f"AND column_name <> '_ingested_at'")]
        out[mart] = query(home, f"SELECT count(*), sum(hash({', '.join(cols)})) FROM marts.{mart}")[0]
    return out


def _check_invariants(home):
    landing = home / "landing"
    for table in TABLES:
        landed = _landed_rows(landing, table)
        accepted = query(home, f"SELECT count(*) FROM raw.{table}")[0][0]
        quarantined = query(home, "SELECT count(*) FROM raw.quarantine WHERE source_table = ?", [table])[0][0]
        assert landed == accepted + quarantined, table
    assert query(home, "SELECT count(*) FROM raw.quarantine WHERE rule IS NULL OR reason IS NULL "
                       "OR record IS NULL")[0][0] == 0
    # the imported lines, one to one (the orders placed through the commerce API are lines of their own:
    # the dbt test assert_sales_revenue_matches_raw accounts for both in fct_sales_daily)
    raw_revenue = float(query(home, "SELECT sum(CAST(quantity * unit_price AS DECIMAL(38, 6))) FROM raw.transactions")[0][0])
    mart_revenue = float(query(home, "SELECT sum(revenue) FROM marts.fct_order_lines WHERE source = 'import'")[0][0])
    assert mart_revenue == pytest.approx(raw_revenue, abs=0.01)
    assert query(home, "SELECT count(*) FROM raw.transactions")[0][0] == \
        query(home, "SELECT count(*) FROM marts.fct_order_lines WHERE source = 'import'")[0][0]
    widening = query(home, """SELECT count(*) FROM marts.fct_funnel_daily
        WHERE added_to_cart > viewed_product OR started_checkout > added_to_cart
           OR entered_payment > started_checkout OR completed_order > entered_payment""")[0][0]
    assert widening == 0
    for mart in MARTS:
        assert query(home, f"SELECT count(*) FROM marts.{mart}")[0][0] >= 0


def test_small_synthetic_end_to_end(small_home):
    _check_invariants(small_home)
    # every mart is populated on the synthetic retailer
    for mart in MARTS:
        assert query(small_home, f"SELECT count(*) FROM marts.{mart}")[0][0] > 0, mart
    # what the generator broke is exactly what was quarantined
    injected = duckdb.connect().execute(f"SELECT count(*) FROM '{small_home}/landing/_truth/corrupted_records.parquet'").fetchone()[0]
    assert query(small_home, "SELECT count(*) FROM raw.quarantine")[0][0] == injected
    # every raw table's checkpoint ran, passed, and is in the Data Docs the run points to
    validations = small_home / "gx" / "uncommitted" / "validations"
    loaded = {t for t in TABLES if query(small_home, f"SELECT count(*) FROM raw.{t}")[0][0] > 0}
    assert {p.name for p in validations.iterdir() if p.is_dir()} == {f"raw_{t}" for t in loaded}
    assert all(json.loads(f.read_text())["success"] for f in validations.rglob("*.json"))
    assert (small_home / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").exists()
    # BOPIS orders are fulfilled by a store, deliveries by a regional warehouse
    kinds = dict(query(small_home, """SELECT o.fulfillment, any_value(s.location_kind) FROM marts.fct_orders o
                                      JOIN marts.dim_store s USING (store_id) GROUP BY 1 HAVING count(DISTINCT s.location_kind) = 1"""))
    assert kinds == {"pickup": "store", "in_store": "store", "delivery": "regional_warehouse"}
    # inventory rebuilt from the ledger matches the smart-shelf sensors (which read before the day's sales)
    on_hand = query(small_home, """SELECT count(*) FILTER (WHERE abs(i.on_hand - r.value) > 2) / count(*)
        FROM raw.iot_readings r JOIN marts.fct_inventory_daily i
          ON i.location_id = r.store_id AND i.sku = r.sku AND i.stock_date = CAST(r.read_at AS DATE) - 1
        WHERE r.kind = 'rfid_read'""")[0][0]
    assert on_hand < 0.05


def test_rerun_and_reimport_change_nothing(small_home, small_landing):
    # the first run after the demo takes in the orders its campaign placed through the API
    run_cli(small_home, "run")
    assert query(small_home, "SELECT count(*) FROM marts.fct_orders WHERE source = 'commerce_api'")[0][0] > 0
    before = _fingerprint(small_home)
    run_cli(small_home, "run")  # the same partitions again
    assert _fingerprint(small_home) == before
    landing = small_home / "landing"
    posted = {p.relative_to(landing): p.read_bytes() for p in landing.rglob("api-*.parquet")}  # POST /events
    shutil.rmtree(landing)
    shutil.copytree(small_landing, landing)  # the same files landed again, the API's events with them
    for path, content in posted.items():
        (landing / path).write_bytes(content)
    run_cli(small_home, "run", "--start", "2025-02-01", "--end", "2025-02-10")
    assert _fingerprint(small_home) == before
    _check_invariants(small_home)


def test_online_retail_slice_end_to_end(tmp_path):
    run_cli(tmp_path, "import", "online-retail", "--path", str(ONLINE_RETAIL), "--since", "2011-01-01",
            "--until", "2011-04-01")
    out = run_cli(tmp_path, "run")
    assert "Pipeline succeeded" in out.stdout
    _check_invariants(tmp_path)
    # the UCI file's known oddities are quarantined with the right rule, nothing else is lost
    rules = dict(query(tmp_path, "SELECT rule, count(*) FROM raw.quarantine GROUP BY 1"))
    assert set(rules) <= {"price_out_of_range", "impossible_quantity"}
    # every identified buyer is a customer (members whose only lines were refused stay members)
    missing = query(tmp_path, """SELECT count(DISTINCT customer_id) FROM raw.transactions
                                 WHERE customer_id NOT IN (SELECT customer_id FROM marts.dim_customer)""")[0][0]
    assert missing == 0
    assert query(tmp_path, "SELECT count(*) FROM marts.dim_customer")[0][0] == \
        query(tmp_path, "SELECT count(*) FROM raw.customers")[0][0]
    status = run_cli(tmp_path, "status").stdout
    assert "fct_sales_daily" in status


def test_a_bad_file_is_quarantined_by_name_and_the_run_goes_on(tmp_path, small_landing):
    shutil.copytree(small_landing, tmp_path / "landing")
    day = tmp_path / "landing" / "events" / "date=2025-01-05"
    (day / "late.parquet").write_text("garbage")
    proc = run_cli(tmp_path, "run")
    assert "late.parquet" in proc.stdout  # the run says which file it refused
    assert query(tmp_path, "SELECT rule FROM raw.quarantine WHERE _source_file LIKE '%late.parquet'") == \
        [("unreadable_file",)]
    good = {p.name for p in day.iterdir()} - {"late.parquet"}
    loaded = {f.rsplit("/", 1)[-1] for (f,) in query(
        tmp_path, "SELECT DISTINCT _source_file FROM raw.events WHERE _batch = '2025-01-05'")}
    assert loaded == good  # the rest of its batch loaded
    listing = run_cli(tmp_path, "quarantine", "--table", "events").stdout
    assert "late.parquet" in listing and "unreadable_file" in listing


def test_bring_your_own_folder_runs_the_whole_pipeline(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "transactions.csv").write_text(
        "order_id,line_number,customer_id,sku,quantity,unit_price,ordered_at\n"
        "A1,1,c1,S1,2,9.90,2025-05-01 10:00:00\nA1,2,c1,S2,1,3.50,2025-05-01 10:00:00\n"
        "A2,1,,S1,1,9.90,2025-05-02 18:30:00\nA3,1,c1,S1,0,9.90,2025-05-02 19:00:00\n")
    home = tmp_path / "home"
    out = run_cli(home, "import", "folder", "--path", str(mine)).stdout
    assert "read transactions.csv: 4 rows" in out and "landed transactions: 4 rows" in out
    run_cli(home, "run")
    assert query(home, "SELECT count(*), sum(revenue)::DOUBLE FROM marts.fct_sales_daily")[0] == (3, pytest.approx(33.2))
    assert query(home, "SELECT rule FROM raw.quarantine") == [("impossible_quantity",)]
    assert query(home, "SELECT category FROM marts.dim_product WHERE sku = 'S2'") == [("Uncategorised",)]


def test_customer_block_on_small_synthetic(small_home):
    from models.rfm import SEGMENTS

    snapshots, segments = query(small_home, "SELECT count(DISTINCT as_of), list(DISTINCT segment) FROM marts.customer_rfm")[0]
    assert snapshots >= 4 and set(segments) <= set(SEGMENTS)
    bad = query(small_home, """SELECT count(*) FROM marts.customer_value
        WHERE NOT (p_alive BETWEEN 0 AND 1) OR NOT isfinite(clv_365d) OR clv_365d < 0""")[0][0]
    assert bad == 0
    assert query(small_home, "SELECT count(*) FROM marts.customer_churn_risk WHERE churn_probability NOT BETWEEN 0 AND 1"
                 )[0][0] == 0
    # members who churned by construction (the generator's truth) score riskier than the ones still active
    churned, active = query(small_home, f"""
        SELECT avg(r.churn_probability) FILTER (WHERE t.churn_date < r.as_of),
               avg(r.churn_probability) FILTER (WHERE t.churn_date > r.as_of + INTERVAL 120 DAY)
        FROM marts.customer_churn_risk r JOIN '{small_home}/landing/_truth/customers.parquet' t USING (customer_id)""")[0]
    assert churned > active + 0.1
    assert query(small_home, "SELECT count(*) FROM marts.customer_profile")[0][0] == \
        query(small_home, "SELECT count(*) FROM marts.dim_customer")[0][0]
    ranked = query(small_home, "SELECT value_at_risk FROM marts.winback_list ORDER BY rank")
    assert ranked == sorted(ranked, reverse=True)
    out = run_cli(small_home, "evaluate").stdout
    assert "== churn" in out and "== clv" in out and "baseline_bgnbd_p_no_purchase" in out


def test_basket_rules_find_the_phone_case_affinity(small_home):
    n_baskets, min_support = query(small_home, "SELECT any_value(n_baskets), any_value(min_support) FROM marts.association_rules")[0]
    assert query(small_home, f"SELECT count(*) FROM marts.association_rules WHERE support < {min_support} - 1e-12")[0][0] == 0
    # the generator puts a matching accessory in the basket of many phone buyers
    lift = query(small_home, """
        SELECT max(r.lift) FROM marts.association_rules r
        JOIN marts.dim_product a ON a.sku = r.antecedents[1] JOIN marts.dim_product c ON c.sku = r.consequents[1]
        WHERE len(r.antecedents) = 1 AND len(r.consequents) = 1
          AND a.category = 'Phones' AND c.category = 'Phone Accessories'""")[0][0]
    assert n_baskets > 1000 and lift is not None and lift > 2
    ranks = query(small_home, "SELECT max(rank) FROM marts.frequently_bought_together")[0][0]
    assert ranks <= 10


def test_demand_forecasts_on_small_synthetic(small_home):
    n, bad, negative = query(small_home, """SELECT count(*), count(*) FILTER (WHERE NOT isfinite(forecast_units)
        OR NOT isfinite(lower_units) OR NOT isfinite(upper_units)), count(*) FILTER (WHERE lower_units < 0
        OR lower_units > forecast_units + 1e-9 OR upper_units < forecast_units - 1e-9) FROM marts.forecasts""")[0]
    assert n > 0 and bad == 0 and negative == 0
    weeks = query(small_home, "SELECT count(DISTINCT week_start), min(week_start) > (SELECT max(sale_date) - 7 "
                              "FROM marts.fct_sales_daily) FROM marts.forecasts")[0]
    assert weeks == (8, True)  # eight weeks ahead of the last full week of sales
    # every level of the hierarchy adds up to the same total, and the daily split keeps it
    totals = query(small_home, "SELECT level, sum(forecast_units) FROM marts.forecast_hierarchy GROUP BY 1")
    assert len(totals) == 6 and max(t for _, t in totals) - min(t for _, t in totals) < 1e-6
    daily = query(small_home, "SELECT sum(forecast_units) FROM marts.forecasts_daily")[0][0]
    assert abs(daily - totals[0][1]) < 1e-6
    out = run_cli(small_home, "evaluate", "forecast").stdout
    assert "baseline_moving_average_4" in out and "model_per_demand_class" in out


def test_replenishment_and_inventory_health_on_small_synthetic(small_home):
    rows, to_order, unexplained, bad = query(small_home, """
        SELECT count(*), count(*) FILTER (WHERE suggested_quantity > 0),
               count(*) FILTER (WHERE suggested_quantity > 0 AND reason NOT LIKE 'position % <= reorder point %'),
               count(*) FILTER (WHERE NOT (safety_stock >= 0 AND order_up_to >= reorder_point)
                                 OR (suggested_quantity > 0 AND position > reorder_point))
        FROM marts.replenishment_suggestions""")[0]
    assert rows > 0 and to_order > 0 and unexplained == 0 and bad == 0
    # a warehouse plans for what it replenishes: its demand is at least that of every store under it
    assert query(small_home, """
        SELECT count(*) FROM marts.replenishment_suggestions w JOIN marts.dim_store s ON s.parent_id = w.location_id
        JOIN marts.replenishment_suggestions c ON c.location_id = s.store_id AND c.sku = w.sku
        WHERE s.store_id <> w.location_id AND w.daily_mean + 1e-9 < c.daily_mean""")[0][0] == 0
    share = query(small_home, "SELECT slow_moving_share FROM marts.inventory_health_summary WHERE level = 'all'")[0][0]
    assert 0 <= share <= 1
    card = run_cli(small_home, "evaluate", "replenishment_policy").stdout
    assert "last_week" in card and "fill_rate" in card


def test_a_new_item_is_forecast_from_its_category(small_home, tmp_path):
    import shutil

    import duckdb

    from pipelines.demand import build_forecasts
    from serving.registry import Registry

    db = tmp_path / "w.duckdb"
    shutil.copy(small_home / "warehouse" / "smartmall.duckdb", db)
    con = duckdb.connect(str(db))
    category, store = con.execute("""SELECT p.category, f.location_id FROM marts.forecasts f
        JOIN marts.dim_product p USING (sku) JOIN marts.dim_store s ON s.store_id = f.location_id
        WHERE s.location_kind = 'store' ORDER BY 1, 2 LIMIT 1""").fetchall()[0]
    con.execute("INSERT INTO marts.dim_product (sku, category) VALUES ('NEW-1', ?)", [category])
    con.execute("""INSERT INTO marts.fct_inventory_daily (sku, location_id, stock_date, on_hand)
                   SELECT 'NEW-1', ?, max(stock_date), 12 FROM marts.fct_inventory_daily""", [store])
    result = build_forecasts(con, Registry(tmp_path / "registry"))
    rows = con.execute("SELECT model, forecast_units FROM model_outputs.forecasts WHERE sku = 'NEW-1'").fetchall()
    assert result["new_items_from_category"] >= 1 and len(rows) == 8
    assert {m for m, _ in rows} == {"category_fallback"} and all(u >= 0 for _, u in rows)
    expected = con.execute("""SELECT avg(f.forecast_units) FROM model_outputs.forecasts f
        JOIN marts.dim_product p USING (sku)
        WHERE p.category = ? AND f.model <> 'category_fallback' AND f.location_id = ?""", [category, store]).fetchall()[0][0]
    assert abs(sum(u for _, u in rows) / 8 - expected) < 1e-6  # the category's average at that store
