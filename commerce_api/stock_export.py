"""Committed stock out to the landing zone: ``smartmall api export-stock``.

The API is the book of record for stock already promised: units held by checkout reservations
and units allocated to paid orders that have not shipped. Replenishment in the warehouse needs
them (position = on hand + in transit - committed), so the API writes a snapshot where every
other feed lands, ``<landing>/stock_positions/stock_positions.parquet`` (the raw contract's
``stock_positions`` table), replacing the previous one. Values travel as text, as on every
other wire into the platform; ingestion types and checks them.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from commerce_api.clock import utcnow
from commerce_api.schema import StockLevel
from data.contract import STOCK_POSITIONS


def export_stock_positions(factory: sessionmaker[Session], landing: Path) -> tuple[Path, int]:
    """Write the snapshot (every pool of a SKU x location summed); returns its path and row count.

    Rows with nothing committed are kept too: the snapshot says what the API holds, and a zero
    is information (the promise was released)."""
    level = StockLevel
    with factory() as session:
        rows = session.execute(
            select(level.location_id, level.sku, func.sum(level.on_hand), func.sum(level.reserved),
                   func.sum(level.allocated))
            .group_by(level.location_id, level.sku).order_by(level.location_id, level.sku)
        ).all()
    as_of = utcnow().replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    values = {
        "location_id": [r[0] for r in rows], "sku": [r[1] for r in rows], "on_hand": [str(r[2]) for r in rows],
        "reserved": [str(r[3]) for r in rows], "allocated": [str(r[4]) for r in rows], "as_of": [as_of] * len(rows),
    }
    table = pa.table({name: pa.array(values[name], pa.string()) for name in STOCK_POSITIONS.column_names})
    folder = landing / STOCK_POSITIONS.name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "stock_positions.parquet"
    tmp = folder / ".stock_positions.parquet.tmp"
    pq.write_table(table, tmp)
    tmp.replace(target)  # the new snapshot appears whole, never half-written
    return target, len(rows)
