"""Write a synthetic retailer to a landing folder, one day at a time (never all in memory).

Layout (the raw contract of ``data.contract``)::

    <out>/stores/stores.parquet, products/products.parquet, customers/customers.parquet
    <out>/<daily table>/date=YYYY-MM-DD/part-0.parquet
    <out>/_truth/   what the generator knows and the data does not say (churn dates, promotions)
    <out>/_manifest.json

Same seed and scale give byte-identical data. A small share of records is corrupted on purpose
(``dirty_rate``) so that quarantine is exercised on every run; the truth folder lists them.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from data.synthetic.calendar import days
from data.synthetic.events import clock_strings, day_events
from data.synthetic.inventory import Inventory
from data.synthetic.iot import RFID_CATEGORIES, SMART_SHELF_SHARE, day_iot
from data.synthetic.orders import PROMO_ELASTICITY, day_orders, is_online, promo_discounts
from data.synthetic.world import CATEGORIES, CHANNELS, build_world


@dataclass(frozen=True)
class Scale:
    name: str
    start: date
    days: int
    regions: int
    stores_per_region: int
    products: int
    customers: int
    orders_per_day: float


SCALES: dict[str, Scale] = {
    "small": Scale("small", date(2025, 1, 1), 120, 2, 2, 30, 800, 60),
    "default": Scale("default", date(2024, 1, 1), 730, 5, 4, 120, 15_000, 420),
    "large": Scale("large", date(2024, 1, 1), 730, 6, 6, 300, 160_000, 1_500),
}


def generate(out: Path, scale: str | Scale = "small", seed: int = 42, dirty_rate: float = 0.002,
             progress: Callable[[str], None] | None = None) -> dict:
    """Generate ``scale`` into ``out`` and return the manifest (row counts per table)."""
    sc = SCALES[scale] if isinstance(scale, str) else scale
    out = Path(out)
    rng = np.random.default_rng(seed)
    world = build_world(rng, start=sc.start, n_days=sc.days, n_regions=sc.regions,
                        stores_per_region=sc.stores_per_region, n_products=sc.products,
                        n_customers=sc.customers, orders_per_day=sc.orders_per_day)
    _write(world.stores, out / "stores" / "stores.parquet")
    _write(world.products, out / "products" / "products.parquet")
    _write(world.customers.with_columns(pl.col("signup_at").dt.strftime("%Y-%m-%d %H:%M:%S")),
           out / "customers" / "customers.parquet")
    truth = out / "_truth"
    _write(world.customer_truth, truth / "customers.parquet")
    _write(world.promotions, truth / "promotions.parquet")

    inv = Inventory(world, rng, expected_units_per_day=sc.orders_per_day * 3.0)
    kinds = world.stores["kind"].to_numpy()
    store_locs = np.flatnonzero(kinds == "store")
    smart_shelf = np.zeros_like(inv.stocked)
    smart_shelf[store_locs] = inv.stocked[store_locs] & (rng.random((len(store_locs), inv.stocked.shape[1])) < SMART_SHELF_SHARE)
    rfid_cats = [world.category_names.index(c) for c in RFID_CATEGORIES]
    rfid_tagged = np.zeros_like(inv.stocked)
    rfid_tagged[store_locs] = inv.stocked[store_locs] & np.isin(world.sku_category, rfid_cats)[None, :]
    return_rate = np.array([CATEGORIES[c][4] for c in world.category_names])[world.sku_category]
    cust_ids = np.array(world.customers["customer_id"].to_list(), dtype=object)
    sku_ids = inv.sku_ids
    loc_ids = inv.location_ids
    pending_returns: dict[int, list[pl.DataFrame]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    dirty: list[pl.DataFrame] = []
    started = time.perf_counter()
    writer = _BackgroundWriter()
    try:
        for t, day in enumerate(days(sc.start, sc.days)):
            day_s = day.isoformat()
            moves = inv.opening_balance() if t == 0 else []
            moves += inv.receive_arrivals(t)
            shelf_before_sales = inv.on_hand.copy()

            candidates = day_orders(world, rng, t, day)
            lines = inv.fulfil(candidates) if not candidates.is_empty() else candidates
            sold = np.zeros_like(inv.on_hand)
            if not lines.is_empty():
                np.add.at(sold, (lines["location"].to_numpy(), lines["sku"].to_numpy()), lines["quantity"].to_numpy())
                loc, sku = np.nonzero(sold)
                moves.append((loc, sku, -sold[loc, sku], "sale", f"sales {day_s}"))
            returns = pl.concat(pending_returns.pop(t)) if t in pending_returns else pl.DataFrame()
            if not returns.is_empty():
                r_loc, r_sku, r_qty = (returns["location"].to_numpy(), returns["sku"].to_numpy(),
                                       -returns["quantity"].to_numpy())
                inv.restock_returns(r_loc, r_sku, r_qty)
                moves.append((r_loc, r_sku, r_qty, "return", f"returns {day_s}"))
            moves += inv.shrink(t)
            upcoming, _ = promo_discounts(world, day + timedelta(days=2))
            moves += inv.replenish(t, sold, 1 + PROMO_ELASTICITY * upcoming)

            tx = _transactions(lines, day_s, cust_ids, sku_ids, loc_ids)
            if not lines.is_empty():
                # some lines come back 3-20 days later as a return order
                back = rng.random(len(lines)) < return_rate[lines["sku"].to_numpy()]
                ret = lines.filter(pl.Series(back)).with_columns(
                    ret_day=pl.Series(t + rng.integers(3, 21, int(back.sum()))),
                    ret_seconds=pl.Series(rng.integers(9 * 3600, 21 * 3600, int(back.sum()))),
                ).with_columns(
                    original_order_id=pl.col("order_id"),
                    order_id=pl.format("R{}-{}", pl.col("order_id"), pl.col("ret_day")),
                    quantity=-pl.col("quantity"),
                    discount_amount=-pl.col("discount_amount"),
                    seconds=pl.col("ret_seconds"),
                    coupon_code=pl.lit(None, pl.Utf8),
                    promotion=pl.lit(-1),
                )
                for rd, grp in ret.partition_by("ret_day", as_dict=True).items():
                    pending_returns[int(rd[0])].append(grp.drop("ret_day", "ret_seconds"))
            if not returns.is_empty():
                tx = pl.concat([tx, _transactions(returns, day_s, cust_ids, sku_ids, loc_ids)], how="vertical_relaxed")

            online = lines.filter(pl.Series(is_online(lines["channel"].to_numpy()))) if not lines.is_empty() else lines
            discount, _ = promo_discounts(world, day)
            events = day_events(world, rng, t, day, online, discount > 0)
            in_store_visits = np.zeros(len(kinds))
            if not lines.is_empty():
                visits = lines.filter(pl.col("fulfillment") != "delivery").unique("order_id")
                np.add.at(in_store_visits, visits["location"].to_numpy(), 1)
            iot = day_iot(t, day_s, rng, store_locs, loc_ids, in_store_visits[store_locs], shelf_before_sales,
                          smart_shelf, rfid_tagged, sku_ids)
            movements = inv.movements_frame(moves, day_s, 23 * 3600, t)

            for name, df in (("transactions", tx), ("events", events), ("iot_readings", iot),
                             ("inventory_movements", movements)):
                if df.is_empty():
                    continue
                df, bad = _corrupt(name, df, rng, dirty_rate)
                if not bad.is_empty():
                    dirty.append(bad.select(pl.lit(name).alias("table"), pl.lit(day_s).alias("date"),
                                            pl.col(bad.columns[0]).cast(pl.Utf8).alias("id")))
                writer.write(df, out / name / f"date={day_s}" / "part-0.parquet")
                counts[name] += len(df)
            if progress and (t % 60 == 59 or t == sc.days - 1):
                progress(f"  generated {t + 1}/{sc.days} days ({day_s}), {counts['transactions']:,} order lines, "
                         f"{counts['events']:,} events, {time.perf_counter() - started:.0f}s")
    finally:
        writer.close()

    if dirty:
        _write(pl.concat(dirty, how="diagonal_relaxed"), truth / "corrupted_records.parquet")
    manifest = {
        "source": "synthetic", "scale": asdict(sc) | {"start": sc.start.isoformat()}, "seed": seed,
        "dirty_rate": dirty_rate, "start": sc.start.isoformat(),
        "end": (sc.start + timedelta(days=sc.days - 1)).isoformat(),
        "rows": {"stores": len(world.stores), "products": len(world.products),
                 "customers": len(world.customers), **counts},
    }
    (out / "_manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _transactions(lines: pl.DataFrame, day_s: str, cust_ids, sku_ids, loc_ids) -> pl.DataFrame:
    if lines.is_empty():
        return pl.DataFrame()
    cust = lines["customer"].to_numpy()
    promo = lines["promotion"].to_numpy()
    secs = lines["seconds"].to_numpy()
    orig = lines["original_order_id"] if "original_order_id" in lines.columns else pl.lit(None, pl.Utf8)
    return lines.select(
        "order_id",
        line_number=pl.int_range(1, pl.len() + 1).over("order_id"),
        customer_id=pl.Series(np.where(cust >= 0, cust_ids[np.maximum(cust, 0)], None).tolist(), dtype=pl.Utf8),
        sku=pl.Series(sku_ids[lines["sku"].to_numpy()].tolist(), dtype=pl.Utf8),
        quantity="quantity",
        unit_price="unit_price",
        ordered_at=clock_strings(date.fromisoformat(day_s), secs),
        store_id=pl.Series(loc_ids[lines["location"].to_numpy()].tolist(), dtype=pl.Utf8),
        channel=pl.Series(np.array(CHANNELS)[lines["channel"].to_numpy()].tolist(), dtype=pl.Utf8),
        discount_amount="discount_amount",
        coupon_code="coupon_code",
        promotion_id=pl.Series(np.where(promo >= 0, np.char.add("PR", np.char.zfill(promo.astype(str), 5)),
                                        None).tolist(), dtype=pl.Utf8),
        fulfillment="fulfillment",
        payment_method="payment_method",
        original_order_id=orig,
    )


BAD_VALUES = {
    "transactions": [("sku", "SKU-UNKNOWN"), ("quantity", 0), ("ordered_at", "2024-13-45 25:61:00"),
                     ("unit_price", -9.9), ("channel", "fax")],
    "events": [("event", "Product Teleported"), ("occurred_at", "yesterday"), ("__duplicate__", None)],
    "iot_readings": [("value", -5.0), ("kind", "smoke_detector"), ("read_at", "n/a")],
    "inventory_movements": [("movement_type", "teleport"), ("sku", "SKU-UNKNOWN")],
}


def _corrupt(table: str, df: pl.DataFrame, rng: np.random.Generator, rate: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Append about ``rate`` x rows of bad records: copies of real rows with one field broken.

    The real rows stay intact, so the clean data keeps every invariant (ledger balances, truth)
    and the bad copies exercise quarantine. Returns (data, the bad rows).
    """
    n_bad = rng.binomial(len(df), rate) if rate > 0 else 0
    if n_bad == 0:
        return df, pl.DataFrame()
    rows = rng.choice(len(df), n_bad, replace=False)
    kinds = rng.integers(0, len(BAD_VALUES[table]), n_bad)
    bad_parts = []
    for k, (column, value) in enumerate(BAD_VALUES[table]):
        hit = np.sort(rows[kinds == k])
        if len(hit) == 0:
            continue
        copy = df[hit]
        if column != "__duplicate__":  # a duplicate is the same event delivered twice
            dtype = pl.Utf8 if isinstance(value, str) else df.schema[column]
            copy = copy.with_columns(pl.lit(value).cast(dtype).alias(column))
        bad_parts.append(copy)
    bad = pl.concat(bad_parts, how="vertical_relaxed")
    return pl.concat([df, bad], how="vertical_relaxed"), bad


def _write(df: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(df.to_arrow(), path, compression="zstd", write_statistics=False)


class _BackgroundWriter:
    """Writes the day files on a second thread while the next day is generated (pyarrow releases
    the GIL while it encodes); at most ``max_pending`` frames wait, so memory stays bounded."""

    def __init__(self, max_pending: int = 16):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing-writer")
        self._pending: deque[Future] = deque()
        self._max_pending = max_pending

    def write(self, df: pl.DataFrame, path: Path) -> None:
        self._pending.append(self._pool.submit(_write, df, path))
        while len(self._pending) > self._max_pending:
            self._pending.popleft().result()

    def close(self) -> None:
        """Wait for every write; the first failure is raised here."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
