"""Incremental ingestion of the commerce database (not a test): an incremental run after 1 % of the
orders changed, against the full read of the same tables, in the same run.

    python bench/commerce_ingest.py [--orders 200000]

Builds a SQLite commerce database with ``--orders`` orders of two lines each (written directly,
not through the API: the bench measures the read), reads it whole into an empty warehouse, changes
1 % of the orders (cancelled, as the API does it: a new status and ``updated_at``), reads again
incrementally, and reads once more with nothing new. Target: the incremental run <= 0.1x the full
one. Writes ``bench/results/commerce_ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from commerce_api.schema import Base, Customer, Order, OrderLine  # noqa: E402
from pipelines.commerce_ingest import ingest_commerce  # noqa: E402

TARGET = 0.1


def build(engine: sa.Engine, n_orders: int) -> None:
    Base.metadata.create_all(engine)
    start = datetime(2026, 1, 1)
    customers = [{"id": f"C{i:06d}", "member_code": f"M{i:06d}", "tier": "member", "points": 0, "stored_value": 0,
                  "created_at": start} for i in range(n_orders // 10)]
    with engine.begin() as db:
        db.execute(sa.insert(Customer.__table__), customers)
        for lo in range(0, n_orders, 50_000):
            batch = range(lo, min(lo + 50_000, n_orders))
            moments = [start + timedelta(seconds=17 * i) for i in batch]
            db.execute(sa.insert(Order.__table__), [
                {"id": f"O{i:08d}", "customer_id": f"C{i % (n_orders // 10):06d}", "channel": "app",
                 "fulfillment": "delivery", "status": "completed", "total": 2000, "deposit": 0, "paid": 2000,
                 "refunded": 0, "created_at": t, "updated_at": t, "completed_at": t} for i, t in zip(batch, moments, strict=True)])
            db.execute(sa.insert(OrderLine.__table__), [
                {"order_id": f"O{i:08d}", "line_number": n, "sku": f"SKU-{(i * 7 + n) % 500:03d}", "quantity": 1,
                 "unit_price": 1000, "price_rule": "list", "location_id": "CW", "pool": "shared",
                 "returned_quantity": 0} for i in batch for n in (1, 2)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{Path(tmp) / 'commerce.db'}")
        t0 = time.perf_counter()
        build(engine, args.orders)
        print(f"built {args.orders:,} orders in {time.perf_counter() - t0:.1f}s")
        con = duckdb.connect(str(Path(tmp) / "w.duckdb"))
        full = ingest_commerce(con, engine)
        with engine.begin() as db:
            changed = db.execute(sa.text(
                "UPDATE orders SET status = 'cancelled', updated_at = :t WHERE CAST(substr(id, 2) AS INTEGER) % 100 = 0"),
                {"t": datetime(2026, 12, 1)}).rowcount
        incremental = ingest_commerce(con, engine)
        nothing = ingest_commerce(con, engine)
        statuses = dict(con.execute("SELECT status, count(*) FROM raw.commerce_orders GROUP BY 1").fetchall())
        con.close()
    ratio = incremental["seconds"] / full["seconds"]
    report = {"orders": args.orders, "changed": changed, "full": full, "incremental": incremental,
              "nothing_new": nothing, "ratio_incremental_to_full": round(ratio, 4), "target": TARGET,
              "statuses_after": statuses}
    print(f"full read: {full['orders']:,} orders + {full['order_lines']:,} lines in {full['seconds']:.2f}s "
          f"({(full['orders'] + full['order_lines']) / full['seconds']:,.0f} rows/s)")
    print(f"incremental, {changed:,} orders changed (1 %): {incremental['orders']:,} orders + "
          f"{incremental['order_lines']:,} lines in {incremental['seconds']:.2f}s = {ratio:.3f}x the full read "
          f"(target <= {TARGET}x)")
    print(f"nothing new: {nothing['orders']} orders in {nothing['seconds']:.2f}s")
    out = REPO / "bench" / "results" / "commerce_ingest.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {out}")
    if incremental["orders"] != changed or nothing["orders"] != 0 or statuses.get("cancelled") != changed:
        raise SystemExit("the incremental read did not read exactly the changed orders")


if __name__ == "__main__":
    main()
