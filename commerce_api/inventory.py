"""Stock levels and their ledger.

Every change is one conditional ``UPDATE ... WHERE <the result stays valid>`` on the stock row:
PostgreSQL row-locks it and re-checks the condition against the newest version, so concurrent
checkouts cannot both take the last unit (no read-modify-write window), and CHECK constraints
back it up. Each applied change appends a ``stock_movements`` row with the same deltas, so
``rebuild_from_ledger`` must equal the levels at all times. A checkout's reservations (``reserve``)
change all their rows or none.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Connection,
    Insert,
    and_,
    bindparam,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from commerce_api.clock import utcnow
from commerce_api.db import (
    Shape,
    core,
    dialect_insert,
    driver_rows,
    insert_ctes,
    insert_rows,
    on_postgresql,
    rows_to_insert,
)
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.schema import Location, Sku, StockLevel, StockMovement

SHARED = "shared"


class OutOfStock(ApiError):
    def __init__(self, sku: str, location_id: str | None, wanted: int):
        where = f" at {location_id}" if location_id else ""
        super().__init__(409, "out_of_stock", f"not enough stock of {sku}{where} for {wanted}",
                         {"sku": sku, "location_id": location_id, "quantity": wanted})


@dataclass(frozen=True)
class Level:
    sku: str
    location_id: str
    pool: str
    on_hand: int
    reserved: int
    allocated: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved - self.allocated


def pool_of(stock_pools: str, channel: str | None) -> str:
    """The pool a sale in ``channel`` draws on, given the SKU's pool mode (``Sku.stock_pools``):
    'shared', or the channel itself when the SKU keeps a separate pool per channel."""
    return channel if stock_pools == "per_channel" and channel else SHARED


def pool_for(session: Session, sku: str, channel: str | None) -> str:
    """``pool_of`` for a SKU by id."""
    row = session.get(Sku, sku)
    if row is None:
        raise not_found("sku", sku)
    return pool_of(row.stock_pools, channel)


def _ensure_row(session: Session, sku: str, location_id: str, pool: str) -> None:
    values = {"sku": sku, "location_id": location_id, "pool": pool, "on_hand": 0, "reserved": 0, "allocated": 0}
    session.execute(dialect_insert(session, StockLevel).values(**values).on_conflict_do_nothing())


# PostgreSQL: the conditional update and its ledger row in one statement, so the row lock is held
# for one round trip less (it matters on a hot SKU, where every checkout waits for that lock).
_APPLY_PG = text("""
    WITH changed AS (
        UPDATE stock_levels
        SET on_hand = on_hand + :on_hand, reserved = reserved + :reserved, allocated = allocated + :allocated
        WHERE sku = :sku AND location_id = :location_id AND pool = :pool
          AND on_hand + :on_hand >= 0 AND reserved + :reserved >= 0 AND allocated + :allocated >= 0
          AND (on_hand + :on_hand) - (reserved + :reserved) - (allocated + :allocated) >= 0
        RETURNING sku)
    INSERT INTO stock_movements (sku, location_id, pool, kind, on_hand_delta, reserved_delta, allocated_delta,
                                 reference, created_at)
    SELECT :sku, :location_id, :pool, :kind, :on_hand, :reserved, :allocated, :reference, :created_at FROM changed
    RETURNING id""").bindparams(bindparam("on_hand", type_=BigInteger), bindparam("reserved", type_=BigInteger),
                                bindparam("allocated", type_=BigInteger))


def apply(session: Session, sku: str, location_id: str, pool: str, kind: str, *, on_hand: int = 0,
          reserved: int = 0, allocated: int = 0, reference: str | None = None) -> bool:
    """Apply deltas to one stock row if every quantity stays >= 0 and available stays >= 0.

    Returns False (and changes nothing) when it would not; the ledger row is written only on success.
    """
    params = {"sku": sku, "location_id": location_id, "pool": pool, "kind": kind, "on_hand": on_hand,
              "reserved": reserved, "allocated": allocated, "reference": reference, "created_at": utcnow()}
    if on_postgresql(session):
        return core(session).execute(_APPLY_PG, params).first() is not None
    s = StockLevel
    new_on_hand, new_reserved, new_allocated = s.on_hand + on_hand, s.reserved + reserved, s.allocated + allocated
    result = session.execute(
        update(s).where(s.sku == sku, s.location_id == location_id, s.pool == pool, new_on_hand >= 0,
                        new_reserved >= 0, new_allocated >= 0, new_on_hand - new_reserved - new_allocated >= 0)
        .values(on_hand=new_on_hand, reserved=new_reserved, allocated=new_allocated)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.execute(insert(StockMovement).values(
        sku=sku, location_id=location_id, pool=pool, kind=kind, on_hand_delta=on_hand, reserved_delta=reserved,
        allocated_delta=allocated, reference=reference, created_at=params["created_at"]))
    return True


def must_apply(session: Session, sku: str, location_id: str, pool: str, kind: str, **deltas) -> None:
    if not apply(session, sku, location_id, pool, kind, **deltas):
        raise OutOfStock(sku, location_id, -sum(v for k, v in deltas.items() if k != "reference"))


def reserve(session: Session, picks: Sequence[tuple[str, str, str, int]], reference: str,
            rows_first: Sequence[Sequence[object]] = ()) -> bool:
    """Reserve every (sku, location_id, pool, quantity) of ``picks`` or none, with their ledger rows;
    returns whether it did. ``rows_first``: groups of new rows to insert as well (``db.insert_rows``),
    whatever the outcome (checkout's order and lines).

    On PostgreSQL all of it is one statement: the picked stock rows are locked in one order (sku,
    location, pool: no deadlock between two orders), and updated only if every one of them still
    has the quantity free. Elsewhere (SQLite: one writer at a time) the rows are inserted, then the
    picks applied one by one under a savepoint."""
    if on_postgresql(session):
        shape, params = rows_to_insert(rows_first)
        for i, (sku, location_id, pool, quantity) in enumerate(picks):
            params.update({f"r{i}_sku": sku, f"r{i}_location_id": location_id, f"r{i}_pool": pool,
                           f"r{i}_quantity": quantity})
        params.update(reference=reference, created_at=utcnow())
        return len(driver_rows(session, _reserve_pg(len(picks), shape), params)) == len(picks)
    insert_rows(session, *rows_first)
    try:
        with session.begin_nested() if len(picks) > 1 else contextlib.nullcontext():
            for sku, location_id, pool, quantity in sorted(picks):  # one lock order
                must_apply(session, sku, location_id, pool, "reservation", reserved=quantity, reference=reference)
    except OutOfStock:
        return False
    return True


@functools.lru_cache(maxsize=256)
def _reserve_pg(picks: int, shape: Shape) -> Insert:
    """``reserve``'s statement on PostgreSQL for a number of picks and rows to insert first."""
    s, m = StockLevel.__table__, StockMovement.__table__
    wanted = union_all(*[select(bindparam(f"r{i}_sku", type_=s.c.sku.type).label("sku"),
                                bindparam(f"r{i}_location_id", type_=s.c.location_id.type).label("location_id"),
                                bindparam(f"r{i}_pool", type_=s.c.pool.type).label("pool"),
                                bindparam(f"r{i}_quantity", type_=BigInteger).label("quantity"))
                         for i in range(picks)]).cte("wanted")
    # the rows locked in a fixed order before any changes (ORDER BY before FOR UPDATE locks in that
    # order), each with whether it still has the quantity free (read under the lock: the newest version)
    locked = (select(s.c.sku, s.c.location_id, s.c.pool, wanted.c.quantity,
                     (s.c.on_hand - s.c.reserved - s.c.allocated >= wanted.c.quantity).label("enough"))
              .select_from(s.join(wanted, and_(s.c.sku == wanted.c.sku, s.c.location_id == wanted.c.location_id,
                                               s.c.pool == wanted.c.pool)))
              .order_by(s.c.sku, s.c.location_id, s.c.pool).with_for_update(of=s)).cte("locked")
    every_one = select(func.count()).select_from(locked).where(locked.c.enough).scalar_subquery() == picks
    changed = (update(s).values(reserved=s.c.reserved + locked.c.quantity)
               .where(s.c.sku == locked.c.sku, s.c.location_id == locked.c.location_id, s.c.pool == locked.c.pool,
                      every_one)
               .returning(s.c.sku, s.c.location_id, s.c.pool, locked.c.quantity)).cte("changed")
    ledger = insert(m).from_select(
        ["sku", "location_id", "pool", "kind", "on_hand_delta", "reserved_delta", "allocated_delta", "reference",
         "created_at"],
        select(changed.c.sku, changed.c.location_id, changed.c.pool, literal("reservation", m.c.kind.type),
               literal(0, BigInteger), changed.c.quantity, literal(0, BigInteger),
               bindparam("reference", type_=m.c.reference.type), bindparam("created_at", type_=m.c.created_at.type)),
    ).returning(m.c.id)
    return ledger.add_cte(*insert_ctes(shape)) if shape else ledger


def _location(session: Session, location_id: str) -> Location:
    loc = session.get(Location, location_id)
    if loc is None:
        raise not_found("location", location_id)
    return loc


def receive(session: Session, location_id: str, sku: str, quantity: int, pool: str = SHARED,
            reference: str | None = None) -> None:
    """Goods in at a location (purchase receipt)."""
    _location(session, location_id)
    pool_for(session, sku, None)
    _ensure_row(session, sku, location_id, pool)
    must_apply(session, sku, location_id, pool, "receipt", on_hand=quantity, reference=reference)


def transfer(session: Session, from_id: str, to_id: str, sku: str, quantity: int, pool: str = SHARED,
             reference: str | None = None) -> None:
    """Move available stock between locations (e.g. regional warehouse -> store)."""
    if from_id == to_id:
        raise ApiError(422, "invalid_transfer", "a transfer needs two different locations")
    _location(session, from_id), _location(session, to_id)
    _ensure_row(session, sku, from_id, pool)
    if not apply(session, sku, from_id, pool, "transfer_out", on_hand=-quantity, reference=reference):
        raise OutOfStock(sku, from_id, quantity)
    _ensure_row(session, sku, to_id, pool)
    must_apply(session, sku, to_id, pool, "transfer_in", on_hand=quantity, reference=reference)


def count(session: Session, location_id: str, sku: str, counted: int, pool: str = SHARED,
          reference: str | None = None) -> int:
    """A stock count: set on hand to what was counted (an adjustment). Returns the delta.

    A count below what is reserved or allocated there is refused: those orders must be cancelled
    or moved first, or stock would be promised twice."""
    _location(session, location_id)
    _ensure_row(session, sku, location_id, pool)
    row = session.execute(select(StockLevel).where(
        StockLevel.sku == sku, StockLevel.location_id == location_id, StockLevel.pool == pool)
        .with_for_update()).scalar_one()
    delta = counted - row.on_hand
    if delta and not apply(session, sku, location_id, pool, "adjustment", on_hand=delta, reference=reference):
        raise conflict("count_below_committed", f"counted {counted} but {row.reserved + row.allocated} are "
                       "reserved or allocated at this location", {"reserved": row.reserved, "allocated": row.allocated})
    return delta


def _levels_query(by_sku: bool, by_location: bool):
    s = StockLevel
    q = select(s.sku, s.location_id, s.pool, s.on_hand, s.reserved, s.allocated)  # rows, not ORM objects
    if by_sku:
        q = q.where(s.sku == bindparam("sku"))
    if by_location:
        q = q.where(s.location_id == bindparam("location_id"))
    return q.order_by(s.sku, s.location_id, s.pool)


# built once: building a statement costs about as much as running this one
_LEVELS = {(by_sku, by_location): _levels_query(by_sku, by_location) for by_sku in (False, True)
           for by_location in (False, True)}


def levels(session: Session | Connection, sku: str | None = None, location_id: str | None = None) -> list[Level]:
    """Stock rows, all or of one SKU and/or location, ordered by SKU, location and pool."""
    rows = session.execute(_LEVELS[(bool(sku), bool(location_id))], {"sku": sku, "location_id": location_id})
    return [Level(*r) for r in rows]


def rebuild_from_ledger(session: Session) -> dict[tuple[str, str, str], tuple[int, int, int]]:
    m = StockMovement
    rows = session.execute(select(m.sku, m.location_id, m.pool, func.sum(m.on_hand_delta), func.sum(m.reserved_delta),
                                  func.sum(m.allocated_delta)).group_by(m.sku, m.location_id, m.pool))
    return {(r[0], r[1], r[2]): (int(r[3]), int(r[4]), int(r[5])) for r in rows}


def ledger_mismatches(session: Session) -> list[dict]:
    """Stock rows whose quantities differ from the sums of the ledger (empty when all balances)."""
    rebuilt = rebuild_from_ledger(session)
    out = []
    for lv in levels(session):
        key = (lv.sku, lv.location_id, lv.pool)
        want = (lv.on_hand, lv.reserved, lv.allocated)
        got = rebuilt.pop(key, (0, 0, 0))
        if got != want:
            out.append({"key": key, "levels": want, "ledger": got})
    out += [{"key": k, "levels": None, "ledger": v} for k, v in rebuilt.items() if v != (0, 0, 0)]
    return out
