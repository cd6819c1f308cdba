"""The synthetic retailer: deterministic, and carrying the signal the models are meant to find."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import polars as pl
import pytest

from data.contract import CHANNELS, EVENT_NAMES, STOCK_POSITIONS, TABLES
from data.synthetic.generate import generate

# committed stock is exported by the commerce API (smartmall api export-stock), not generated
GENERATED = [name for name in TABLES if name != STOCK_POSITIONS.name]


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.parquet")):
        h.update(str(p.relative_to(folder)).encode())
        h.update(pl.read_parquet(p).hash_rows().to_numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def con(small_landing):
    c = duckdb.connect()
    for name in GENERATED:
        glob = f"{small_landing}/{name}/*/*.parquet" if TABLES[name].daily else f"{small_landing}/{name}/*.parquet"
        c.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{glob}', hive_partitioning=false)")
    c.execute(f"CREATE VIEW truth_customers AS SELECT * FROM '{small_landing}/_truth/customers.parquet'")
    c.execute(f"CREATE VIEW bad AS SELECT * FROM '{small_landing}/_truth/corrupted_records.parquet'")
    # clean lines: the injected bad copies are listed in the truth folder
    c.execute("""CREATE VIEW lines AS SELECT * FROM transactions
                 WHERE try_cast(ordered_at AS TIMESTAMP) IS NOT NULL AND quantity <> 0 AND unit_price >= 0
                   AND sku <> 'SKU-UNKNOWN' AND channel <> 'fax'""")
    return c


def test_same_seed_same_data_other_seed_other_data(tmp_path, small_landing):
    generate(tmp_path / "a", "small", seed=7)
    generate(tmp_path / "b", "small", seed=8)
    assert _digest(tmp_path / "a") == _digest(small_landing)
    assert _digest(tmp_path / "b") != _digest(small_landing)


def test_every_table_follows_the_contract(small_landing):
    assert not (small_landing / "stock_positions").exists()
    for name in GENERATED:
        table = TABLES[name]
        files = list((small_landing / name).rglob("*.parquet"))
        assert files, name
        columns = set(pl.read_parquet_schema(files[0]))
        required = {c.name for c in table.columns if c.required}
        assert required <= columns <= set(table.column_names), name


def test_all_channels_and_fulfilment_modes_present(con):
    channels = {r[0] for r in con.execute("SELECT DISTINCT channel FROM lines").fetchall()}
    assert channels == set(CHANNELS) - {"online"}
    modes = dict(con.execute("SELECT fulfillment, count(DISTINCT order_id) FROM lines GROUP BY 1").fetchall())
    assert set(modes) == {"in_store", "delivery", "pickup"}
    assert modes["pickup"] > 0.05 * sum(modes.values())  # BOPIS is a real share of orders


def test_weekend_outsells_weekdays(con):
    weekday, weekend = con.execute("""
        SELECT avg(n) FILTER (WHERE dow BETWEEN 1 AND 4), avg(n) FILTER (WHERE dow IN (0, 6))
        FROM (SELECT dayofweek(CAST(ordered_at AS TIMESTAMP)) AS dow, CAST(ordered_at AS DATE) AS d,
                     count(DISTINCT order_id) AS n FROM lines WHERE quantity > 0 GROUP BY 1, 2)""").fetchone()
    assert weekend > 1.15 * weekday


def test_chinese_new_year_run_up_peaks_and_holiday_week_dips(con):
    # small scale spans 2025-01-01..2025-04-30; Spring Festival was 2025-01-29. Member orders per
    # active member, so that the growing member base does not hide the calendar.
    run_up, holiday, after = con.execute("""
        WITH daily AS (
            SELECT CAST(ordered_at AS DATE) AS d, count(DISTINCT order_id) AS n FROM lines
            WHERE customer_id IS NOT NULL AND quantity > 0 GROUP BY 1),
        per_member AS (
            SELECT d, n / (SELECT count(*) FROM truth_customers t WHERE t.signup_date <= d AND t.churn_date > d) AS r
            FROM daily)
        SELECT avg(r) FILTER (WHERE d BETWEEN '2025-01-15' AND '2025-01-28'),
               avg(r) FILTER (WHERE d BETWEEN '2025-01-29' AND '2025-02-04'),
               avg(r) FILTER (WHERE d BETWEEN '2025-02-05' AND '2025-02-18')
        FROM per_member""").fetchone()
    assert run_up > 1.25 * after
    assert holiday < 0.8 * after


def test_phone_buyers_also_buy_accessories(con):
    # lift of (Phones -> Phone Accessories) in the same order, against the base rate
    lift = con.execute("""
        WITH o AS (SELECT l.order_id, bool_or(p.category = 'Phones') AS phone,
                          bool_or(p.category = 'Phone Accessories') AS acc
                   FROM lines l JOIN products p USING (sku) WHERE l.quantity > 0 GROUP BY 1)
        SELECT avg(acc::INT) FILTER (WHERE phone) / avg(acc::INT) FROM o""").fetchone()[0]
    assert lift > 2.0


def test_promotions_lift_demand(con, small_landing):
    # the same SKU sells more per day while it is on a weekly deal than on days with no promotion
    lift = con.execute(f"""
        WITH promos AS (SELECT * FROM '{small_landing}/_truth/promotions.parquet'),
        deal_skus AS (SELECT DISTINCT p.sku, d.category FROM promos p JOIN products d USING (sku)
                      WHERE kind = 'weekly_deal'),
        days AS (SELECT DISTINCT CAST(ordered_at AS DATE) AS d FROM lines),
        grid AS (
            SELECT s.sku, d.d,
                   EXISTS (SELECT 1 FROM promos x WHERE x.sku = s.sku AND d.d BETWEEN x.starts_on AND x.ends_on)
                       AS on_deal,
                   EXISTS (SELECT 1 FROM promos x WHERE x.sku IS NULL AND x.category = s.category
                           AND d.d BETWEEN x.starts_on AND x.ends_on) AS category_promo
            FROM deal_skus s, days d),
        units AS (SELECT sku, CAST(ordered_at AS DATE) AS d, sum(quantity) AS u FROM lines WHERE quantity > 0
                  GROUP BY 1, 2),
        per_sku AS (SELECT g.sku, avg(coalesce(u.u, 0)) FILTER (WHERE on_deal) AS deal,
                           avg(coalesce(u.u, 0)) FILTER (WHERE NOT on_deal AND NOT category_promo) AS normal
                    FROM grid g LEFT JOIN units u USING (sku, d) GROUP BY 1)
        SELECT sum(deal) / sum(normal) FROM per_sku WHERE deal IS NOT NULL AND normal IS NOT NULL""").fetchone()[0]
    assert lift > 1.25


def test_funnel_drops_off_step_by_step(con):
    counts = dict(con.execute("SELECT event, count(DISTINCT session_id) FROM events GROUP BY 1").fetchall())
    steps = ["Product Viewed", "Product Added", "Checkout Started", "Payment Info Entered", "Order Completed"]
    values = [counts[s] for s in steps]
    assert all(a > b for a, b in zip(values, values[1:], strict=False)), values
    assert set(counts) - {"Product Teleported"} == set(EVENT_NAMES)


def test_customers_stop_buying_after_they_churn(con):
    late = con.execute("""
        SELECT count(*) FROM lines l JOIN truth_customers t USING (customer_id)
        WHERE l.quantity > 0 AND CAST(l.ordered_at AS DATE) >= t.churn_date""").fetchone()[0]
    churned = con.execute("SELECT count(*) FROM truth_customers WHERE churn_date < DATE '2025-04-30'").fetchone()[0]
    assert late == 0
    assert churned > 20


def test_returns_refer_to_earlier_orders(con):
    orphan, returns = con.execute("""
        SELECT count(*) FILTER (WHERE o.order_id IS NULL), count(*)
        FROM lines r LEFT JOIN (SELECT DISTINCT order_id, min(ordered_at) AS at FROM lines GROUP BY 1) o
          ON o.order_id = r.original_order_id AND o.at < r.ordered_at
        WHERE r.quantity < 0""").fetchone()
    assert returns > 50 and orphan == 0


def test_stock_ledger_never_goes_negative(con):
    worst = con.execute("""
        WITH d AS (SELECT location_id, sku, CAST(moved_at AS DATE) AS day, sum(quantity) AS q
                   FROM inventory_movements
                   WHERE movement_type IN ('receipt','transfer_out','transfer_in','sale','return','adjustment')
                     AND sku <> 'SKU-UNKNOWN' AND try_cast(moved_at AS TIMESTAMP) IS NOT NULL GROUP BY ALL)
        SELECT min(s) FROM (SELECT sum(q) OVER (PARTITION BY location_id, sku ORDER BY day) AS s FROM d)""").fetchone()[0]
    assert worst >= 0


def test_sales_move_stock(con):
    sold_lines = con.execute("""SELECT sum(quantity) FROM lines WHERE quantity > 0""").fetchone()[0]
    sold_ledger = -con.execute("SELECT sum(quantity) FROM inventory_movements WHERE movement_type = 'sale' "
                               "AND sku <> 'SKU-UNKNOWN'").fetchone()[0]
    assert sold_lines == sold_ledger


def test_iot_readings_cover_every_sensor_kind(con):
    kinds = dict(con.execute("SELECT kind, count(*) FROM iot_readings GROUP BY 1").fetchall())
    assert {"footfall", "rfid_read", "shelf_stock", "temperature"} <= set(kinds)
    # footfall follows in-store demand: busier stores count more visitors
    corr = con.execute("""
        WITH f AS (SELECT store_id, sum(value) v FROM iot_readings WHERE kind = 'footfall' GROUP BY 1),
             o AS (SELECT store_id, count(DISTINCT order_id) n FROM lines WHERE fulfillment = 'in_store' GROUP BY 1)
        SELECT corr(v, n) FROM f JOIN o USING (store_id)""").fetchone()[0]
    assert corr > 0.5


def test_bad_records_are_injected_at_the_requested_rate(con):
    n_bad = con.execute("SELECT count(*) FROM bad").fetchone()[0]
    n_all = sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("transactions", "events", "iot_readings", "inventory_movements"))
    assert 0.001 * n_all < n_bad < 0.004 * n_all
