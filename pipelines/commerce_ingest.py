"""The closed loop: what the commerce API records flows back into the warehouse, incrementally.

Orders (with their lines) are read by a high-water mark on ``(updated_at, id)``: each run reads
the orders changed since the last one and replaces their rows in ``raw.commerce_orders`` and
``raw.commerce_order_lines`` (an order paid, shipped, returned or cancelled after the first read
updates the warehouse: no duplicates, no stale status). Members are read by when they last changed
(a new tier, points) into ``raw.commerce_customers``. dbt's staging unions these with the imported
files, with the source recorded, so the models learn from the shop on the next run. Payments, refunds, return
requests, shipments, the stock ledger and the marketing tables (campaigns and their members, coupons,
order discount lines, the points ledger) are copied as they are (``MIRRORS``, by when each row last
changed) into ``raw.commerce_*`` tables of their own.

Why an overlap: a transaction that commits late can carry an ``updated_at`` just below the mark
another run already passed. Each run re-reads a short window below the mark and keeps only order
versions the warehouse does not hold yet, so nothing is missed and a re-run with nothing new
writes nothing.

The database is ``COMMERCE_DATABASE_URL`` (SQLite under ``$SMARTMALL_HOME/commerce/`` by default,
PostgreSQL in production). Without a commerce database the step says so and skips.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import sqlalchemy as sa

from commerce_api.schema import (
    Bargain,
    BargainDeal,
    BargainHelp,
    Campaign,
    CampaignMember,
    Coupon,
    CouponDefinition,
    Customer,
    Order,
    OrderDiscount,
    OrderLine,
    Payment,
    PointsEntry,
    PointsReward,
    Refund,
    ReturnRequest,
    Shipment,
    StockMovement,
)
from models.errors import NotEnoughData

OVERLAP = timedelta(minutes=5)
BATCH = 20_000  # orders read per round trip
TABLES_DDL = {
    "commerce_orders": """order_id VARCHAR PRIMARY KEY, customer_id VARCHAR, channel VARCHAR, fulfillment VARCHAR,
        store_id VARCHAR, status VARCHAR, total BIGINT, paid BIGINT, refunded BIGINT, created_at TIMESTAMP,
        updated_at TIMESTAMP, completed_at TIMESTAMP, _extracted_at TIMESTAMP""",
    "commerce_order_lines": """order_id VARCHAR, line_number INTEGER, sku VARCHAR, quantity INTEGER,
        unit_price BIGINT, location_id VARCHAR, returned_quantity INTEGER, PRIMARY KEY (order_id, line_number)""",
    "commerce_customers": """customer_id VARCHAR PRIMARY KEY, region VARCHAR, home_store_id VARCHAR, tier VARCHAR,
        birthday DATE, created_at TIMESTAMP, _extracted_at TIMESTAMP, updated_at TIMESTAMP""",
    "commerce_watermarks": "source VARCHAR PRIMARY KEY, moment TIMESTAMP, last_id VARCHAR",
}


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The raw tables of the loop (empty until the API has recorded something)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for name, columns in TABLES_DDL.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS raw.{name} ({columns})")
    # warehouses made before members were read by when they changed
    con.execute("ALTER TABLE raw.commerce_customers ADD COLUMN IF NOT EXISTS updated_at TIMESTAMP")
    for name, mirror in MIRRORS.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS raw.{name} ({_mirror_ddl(mirror)})")
        for column in mirror.columns:  # a column the API gained after the mirror was made (a migration)
            con.execute(f'ALTER TABLE raw.{name} ADD COLUMN IF NOT EXISTS "{column.name}" {_duckdb_type(column)}')


def commerce_engine(database_url: str) -> sa.Engine:
    """An engine on the commerce database; ``NotEnoughData`` when its SQLite file does not exist
    (nothing recorded yet: SQLAlchemy would create an empty file)."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise NotEnoughData(f"no commerce database at {url.database} yet",
                            needs="the commerce API's database ('smartmall api seed' or 'smartmall demo')")
    return sa.create_engine(database_url)


def ingest_commerce(con: duckdb.DuckDBPyConnection, engine: sa.Engine) -> dict:
    """Read what changed in the commerce database since the last run into the raw tables; returns
    rows read and written per table and the seconds taken."""
    t0 = time.perf_counter()
    ensure_tables(con)
    now = datetime.now()
    with _snapshot(engine) as db:
        orders, lines = _changed_orders(con, db)
        customers = _changed_customers(con, db)
        mirrored = {name: _read_mirror(con, db, name, mirror) for name, mirror in MIRRORS.items()}
    con.execute("BEGIN")
    try:
        if orders.height:
            con.register("changed_orders", orders)
            con.register("changed_lines", lines)
            con.execute("DELETE FROM raw.commerce_order_lines WHERE order_id IN (SELECT order_id FROM changed_orders)")
            con.execute("DELETE FROM raw.commerce_orders WHERE order_id IN (SELECT order_id FROM changed_orders)")
            con.execute("INSERT INTO raw.commerce_orders SELECT *, ? FROM changed_orders", [now])
            con.execute("INSERT INTO raw.commerce_order_lines BY NAME SELECT * FROM changed_lines")
            last = orders.sort("updated_at", "order_id").row(-1, named=True)
            _set_mark(con, "orders", last["updated_at"], last["order_id"])
        if customers.height:
            con.register("new_customers", customers)
            con.execute("INSERT OR REPLACE INTO raw.commerce_customers BY NAME "
                        "SELECT *, ?::TIMESTAMP AS _extracted_at FROM new_customers", [now])
            last = customers.sort("updated_at", "customer_id").row(-1, named=True)
            _set_mark(con, "customers", last["updated_at"], last["customer_id"])
        for name, rows in mirrored.items():
            if rows.height:
                _write_mirror(con, name, MIRRORS[name], rows, now)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return {"orders": orders.height, "order_lines": lines.height, "customers": customers.height,
            **{name.removeprefix("commerce_"): rows.height for name, rows in mirrored.items()},
            "seconds": round(time.perf_counter() - t0, 3)}


def _mark(con: duckdb.DuckDBPyConnection, source: str) -> tuple[datetime, str] | None:
    rows = con.execute("SELECT moment, last_id FROM raw.commerce_watermarks WHERE source = ?", [source]).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def _set_mark(con: duckdb.DuckDBPyConnection, source: str, moment: datetime, last_id: str) -> None:
    con.execute("INSERT OR REPLACE INTO raw.commerce_watermarks VALUES (?, ?, ?)", [source, moment, last_id])


@contextmanager
def _snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One read-only transaction for every table read: they all see the database at one moment. Read
    apart, an order placed and shipped between the read of the orders and that of the shipments
    lands as a shipment without its order (seen under load: the dbt relationship test failed)."""
    with engine.connect() as db:
        if db.dialect.name == "postgresql":
            db = db.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with db.begin():
                yield db
        else:  # SQLite: one explicit read transaction holds one snapshot (WAL) until it ends
            db.exec_driver_sql("BEGIN")
            try:
                yield db
            finally:
                db.exec_driver_sql("ROLLBACK")


def _changed_orders(con: duckdb.DuckDBPyConnection, db: sa.Connection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Orders changed since the mark (less the overlap), without the versions already held, and their lines."""
    mark = _mark(con, "orders")
    since = mark[0] - OVERLAP if mark else datetime.min
    o = Order.__table__.c
    query = (sa.select(o.id.label("order_id"), o.customer_id, o.channel, o.fulfillment, o.store_id, o.status, o.total,
                       o.paid, o.refunded, o.created_at, o.updated_at, o.completed_at)
             .where(o.updated_at >= since).order_by(o.updated_at, o.id))
    frames = []
    offset = 0
    while True:  # pages of one snapshot: stable under concurrent writes
        part = pl.read_database(query.limit(BATCH).offset(offset), db, infer_schema_length=None)
        frames.append(part)
        if part.height < BATCH:
            break
        offset += BATCH
    orders = _typed_orders(pl.concat(frames, how="vertical_relaxed"))
    held = con.sql("SELECT order_id, updated_at FROM raw.commerce_orders WHERE updated_at >= ?",
                   params=[since]).pl()
    orders = orders.join(held, on=["order_id", "updated_at"], how="anti")
    return orders, _lines_of(db, orders["order_id"].to_list())


def _lines_of(db: sa.Connection, order_ids: list[str]) -> pl.DataFrame:
    c = OrderLine.__table__.c
    parts = [pl.read_database(sa.select(c.order_id, c.line_number, c.sku, c.quantity, c.unit_price, c.location_id,
                                        c.returned_quantity).where(c.order_id.in_(order_ids[i:i + 5000])), db,
                              infer_schema_length=None)
             for i in range(0, len(order_ids), 5000)]
    schema = {"order_id": pl.Utf8, "line_number": pl.Int32, "sku": pl.Utf8, "quantity": pl.Int32,
              "unit_price": pl.Int64, "location_id": pl.Utf8, "returned_quantity": pl.Int32}
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, how="vertical_relaxed").cast(schema)


def _typed_orders(frame: pl.DataFrame) -> pl.DataFrame:
    schema = {"order_id": pl.Utf8, "customer_id": pl.Utf8, "channel": pl.Utf8, "fulfillment": pl.Utf8,
              "store_id": pl.Utf8, "status": pl.Utf8, "total": pl.Int64, "paid": pl.Int64, "refunded": pl.Int64,
              "created_at": pl.Datetime("us"), "updated_at": pl.Datetime("us"), "completed_at": pl.Datetime("us")}
    if frame.is_empty():
        return pl.DataFrame(schema=schema)
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())


def _changed_customers(con: duckdb.DuckDBPyConnection, db: sa.Connection) -> pl.DataFrame:
    """Members created or changed (tier, points) since the mark (less the overlap), without the
    versions the warehouse holds."""
    mark = _mark(con, "customers")
    since = mark[0] - OVERLAP if mark else datetime.min
    c = Customer.__table__.c
    changed = sa.func.coalesce(c.updated_at, c.created_at)
    frame = pl.read_database(sa.select(c.id.label("customer_id"), c.region, c.home_store_id, c.tier, c.birthday,
                                       c.created_at, changed.label("updated_at"))
                             .where(changed >= since).order_by(changed, c.id), db, infer_schema_length=None)
    schema = {"customer_id": pl.Utf8, "region": pl.Utf8, "home_store_id": pl.Utf8, "tier": pl.Utf8,
              "birthday": pl.Date, "created_at": pl.Datetime("us"), "updated_at": pl.Datetime("us")}
    frame = pl.DataFrame(schema=schema) if frame.is_empty() else frame.select(
        pl.col(name).cast(dtype) for name, dtype in schema.items())
    held = con.sql("SELECT customer_id, updated_at FROM raw.commerce_customers WHERE updated_at >= ?",
                   params=[since]).pl()
    return frame.join(held, on=["customer_id", "updated_at"], how="anti")


@dataclass(frozen=True)
class Mirror:
    """A commerce table copied as it is into ``raw.<name>``: rows changed since the mark replace
    their old versions. ``moment`` is the SQL expression of when a row last changed; ``key`` the
    columns that identify a row; ``exclude`` the columns that change without moving ``moment``
    (running counters), left out rather than copied stale."""

    table: sa.Table
    moment: str
    key: tuple[str, ...] = ("id",)
    exclude: tuple[str, ...] = ()

    @property
    def columns(self) -> list[sa.Column]:
        return [c for c in self.table.columns if c.name not in self.exclude]


# what else the API records, copied for the marts and analysts (orders and members above feed the
# sales marts; the marketing tables feed marts.campaign_performance)
MIRRORS = {
    "commerce_payments": Mirror(Payment.__table__, "updated_at"),
    "commerce_refunds": Mirror(Refund.__table__, "created_at"),
    "commerce_returns": Mirror(ReturnRequest.__table__, "coalesce(decided_at, created_at)"),
    "commerce_shipments": Mirror(Shipment.__table__, "updated_at"),
    "commerce_stock_movements": Mirror(StockMovement.__table__, "created_at"),
    "commerce_campaigns": Mirror(Campaign.__table__, "updated_at"),
    "commerce_campaign_members": Mirror(CampaignMember.__table__, "added_at", key=("campaign_id", "customer_id")),
    "commerce_coupon_definitions": Mirror(CouponDefinition.__table__, "created_at", exclude=("used",)),
    "commerce_coupons": Mirror(Coupon.__table__, "updated_at"),
    "commerce_order_discounts": Mirror(OrderDiscount.__table__, "created_at",
                                       key=("order_id", "line_number", "source")),
    "commerce_points_ledger": Mirror(PointsEntry.__table__, "created_at", exclude=("remaining",)),
    "commerce_bargain_deals": Mirror(BargainDeal.__table__, "created_at"),
    "commerce_bargains": Mirror(Bargain.__table__, "updated_at"),
    "commerce_bargain_helps": Mirror(BargainHelp.__table__, "created_at", key=("bargain_id", "helper_id")),
    "commerce_points_rewards": Mirror(PointsReward.__table__, "created_at"),
}


def _duckdb_type(column: sa.Column) -> str:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return "BOOLEAN"
    if isinstance(kind, sa.Integer):
        return "BIGINT"
    if isinstance(kind, sa.DateTime):
        return "TIMESTAMP"
    if isinstance(kind, sa.Date):
        return "DATE"
    return "VARCHAR"  # strings, and JSON as its text


def _mirror_ddl(mirror: Mirror) -> str:
    columns = ", ".join(f'"{c.name}" {_duckdb_type(c)}' for c in mirror.columns)
    return f"{columns}, _changed_at TIMESTAMP, _extracted_at TIMESTAMP"


def _key_sql(mirror: Mirror, prefix: str = "") -> str:
    return " || '|' || ".join(f'CAST({prefix}"{k}" AS VARCHAR)' for k in mirror.key)


def _read_mirror(con: duckdb.DuckDBPyConnection, db: sa.Connection, name: str, mirror: Mirror) -> pl.DataFrame:
    """Rows of ``mirror`` changed since its mark (less the overlap), without the versions held."""
    mark = _mark(con, name)
    since = mark[0] - OVERLAP if mark else datetime.min
    moment = sa.literal_column(mirror.moment, type_=sa.DateTime)
    cols = [sa.cast(c, sa.Text).label(c.name) if isinstance(c.type, sa.JSON) else c for c in mirror.columns]
    frame = pl.read_database(sa.select(*cols, moment.label("_changed_at")).select_from(mirror.table)
                             .where(moment >= since), db, infer_schema_length=None)
    schema = {c.name: {"BOOLEAN": pl.Boolean, "BIGINT": pl.Int64, "TIMESTAMP": pl.Datetime("us"), "DATE": pl.Date,
                       "VARCHAR": pl.Utf8}[_duckdb_type(c)] for c in mirror.columns}
    schema["_changed_at"] = pl.Datetime("us")
    if frame.is_empty():
        return pl.DataFrame(schema=schema)
    frame = frame.select(pl.col(n).cast(t) for n, t in schema.items())
    held = con.sql(f"SELECT {_key_sql(mirror)} AS _k, _changed_at FROM raw.{name} WHERE _changed_at >= ?",
                   params=[since]).pl()
    key = pl.concat_str([pl.col(k).cast(pl.Utf8) for k in mirror.key], separator="|")
    return frame.with_columns(_k=key).join(held, on=["_k", "_changed_at"], how="anti").drop("_k")


def _write_mirror(con: duckdb.DuckDBPyConnection, name: str, mirror: Mirror, rows: pl.DataFrame,
                  now: datetime) -> None:
    con.register(f"changed_{name}", rows)
    same = " AND ".join(f'raw.{name}."{k}" = c."{k}"' for k in mirror.key)
    con.execute(f"DELETE FROM raw.{name} USING changed_{name} AS c WHERE {same}")
    con.execute(f"INSERT INTO raw.{name} BY NAME SELECT *, ?::TIMESTAMP AS _extracted_at FROM changed_{name}", [now])
    last = rows.sort("_changed_at", *mirror.key).row(-1, named=True)
    _set_mark(con, name, last["_changed_at"], "|".join(str(last[k]) for k in mirror.key))
