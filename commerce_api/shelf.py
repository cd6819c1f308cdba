"""What the recommendation routes may show, held per API worker for a bounded time.

A recommendation answer filters ~50 candidate SKUs by the commerce database's truth: listed (the SKU
and its product), visible in the channel, stock available at the location or the warehouse above it.
Reading that per request cost two round trips and a thread hop (~2.4 ms of CPU: 0.05x a bare
endpoint, ``bench/serving_http.py``). ``Shelf`` keeps each ``(location, SKU)`` answer and each
customer's region and home store in memory with the time it was read; a request whose entries are
all younger than ``max_age`` is answered without the database, in the event loop. Missing or older
entries are read in one batch for just those SKUs, on the shelf's reader threads.

So an SKU that sells out or is unlisted through *another* worker may still be recommended for up to
``max_age`` seconds (``COMMERCE_SHELF_SECONDS``, 1 s by default; 0 reads the database on every
request). That is the trade: checkout reserves stock under a row lock and never oversells, so a
recommendation one second stale costs at most a shopper's click, never a sale that cannot be filled.
Customers are kept ``CUSTOMER_SECONDS`` (like API keys: their home store and region rarely change).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice

from sqlalchemy import Engine, bindparam, or_, select

from commerce_api.schema import Customer, Location, Product, Sku, StockLevel
from data.contract import CHANNELS

log = logging.getLogger("smartmall.api")
CUSTOMER_SECONDS = 30.0
MAX_ENTRIES = 200_000  # (location, SKU) pairs per worker before the cache starts over
READERS = 2  # threads reading for the shelf per worker (like COMMERCE_THREADS' request threads)
REFRESH_BATCH = 2_000  # SKUs of a location re-read together at most

_LISTED = (select(Sku.sku, Sku.visible_channels).join(Product, Product.id == Sku.product_id)
           .where(Sku.sku.in_(bindparam("skus", expanding=True)), Sku.listed, Product.listed))
_PLACES = select(Location.id).where(or_(
    Location.id == bindparam("location_id"),
    Location.id == select(Location.parent_id).where(Location.id == bindparam("location_id")).scalar_subquery()))
_AVAILABLE = (select(StockLevel.sku, StockLevel.pool).distinct()
              .where(StockLevel.sku.in_(bindparam("skus", expanding=True)), StockLevel.location_id.in_(_PLACES),
                     StockLevel.on_hand - StockLevel.reserved - StockLevel.allocated > 0))
_LOCATION = select(Location.id).where(Location.id == bindparam("location_id"))
_CUSTOMER = select(Customer.region, Customer.home_store_id).where(Customer.id == bindparam("customer_id"))


def shown_in(listed: bool, channels: Iterable[str] | None, pools: set[str], located: bool) -> frozenset[str | None]:
    """The channels (None: no channel given) in which an SKU may be shown at a location: listed, visible
    there (``channels`` None = every channel) and, when a location was asked, with stock available in
    the shared pool or the channel's own (``pools``, at the location or its parent)."""
    if not listed:
        return frozenset()
    visible = [None, *(CHANNELS if channels is None else (c for c in CHANNELS if c in channels))]
    return frozenset(c for c in visible if not located or "shared" in pools or (c is not None and c in pools))


class UnknownLocation(LookupError):
    pass


class Shelf:
    """Per-worker cache of what may be shown; see the module docstring for the freshness bound.

    ``cached_*`` methods never touch the database (call them in the event loop); ``read_*`` methods
    do (call them in a thread) and refresh the cache; ``showable_async`` does either."""

    def __init__(self, engine: Engine, max_age: float) -> None:
        self.engine = engine
        self.max_age = max_age
        # location (None: none asked) -> SKU -> (when read, the channels it may be shown in)
        self._shown: dict[str | None, dict[str, tuple[float, frozenset[str | None]]]] = {}
        self._entries = 0
        self._reading: dict[str | None, Future[set[str]]] = {}  # location -> its read in flight
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="shelf")
        self._customers: dict[str, tuple[float, tuple[str | None, str | None] | None]] = {}
        self._locations: dict[str, float] = {}  # known location -> when it was read
        self.reads = 0  # database batches, for tests and benchmarks
        self.misses = 0  # requests that waited for a read
        self.reads_ahead = 0  # reads started ahead of expiry

    def forget(self) -> None:
        """Drop every cached answer: after a write in this worker that changes what may be shown (catalogue
        edits, receipts, transfers, counts), so this worker shows it at once (others within ``max_age``)."""
        self._shown, self._entries = {}, 0
        self._customers = {}

    def _fresh(self, read_at: float, max_age: float, now: float) -> bool:
        return now - read_at < max_age

    def cached_customer(self, customer_id: str) -> tuple[str | None, str | None] | None | bool:
        """(region, home store) of a cached customer, None when cached as absent, False when not cached."""
        hit = self._customers.get(customer_id)
        if hit is None or not self._fresh(hit[0], CUSTOMER_SECONDS if self.max_age > 0 else 0, time.monotonic()):
            return False
        return hit[1]

    def customer(self, customer_id: str) -> tuple[str | None, str | None] | None:
        """``cached_customer`` else ``read_customer``: for code already in a thread."""
        hit = self.cached_customer(customer_id)
        return hit if hit is not False else self.read_customer(customer_id)

    def read_customer(self, customer_id: str) -> tuple[str | None, str | None] | None:
        with self.engine.connect() as conn:
            row = conn.execute(_CUSTOMER, {"customer_id": customer_id}).first()
        value = None if row is None else (row[0], row[1])
        if len(self._customers) >= MAX_ENTRIES:
            self._customers = {}
        self._customers[customer_id] = (time.monotonic(), value)
        return value

    def cached_showable(self, skus: Iterable[str], channel: str | None, location_id: str | None) -> set[str] | None:
        """The SKUs of ``skus`` that may be shown, or None when any of them is not cached fresh."""
        hit = self._cached(skus, channel, location_id)
        return None if hit is None else hit[0]

    def _cached(self, skus: Iterable[str], channel: str | None,
                location_id: str | None) -> tuple[set[str], bool] | None:
        """``cached_showable``, and whether any of the SKUs is past half its age (time to read ahead)."""
        table = self._shown.get(location_id)
        if table is None:
            return None
        now = time.monotonic()
        expired, ahead = now - self.max_age, now - self.max_age / 2
        aging = False
        out = set()
        for sku in skus:
            entry = table.get(sku)
            if entry is None:
                return None
            if entry[0] <= ahead:
                if entry[0] <= expired:
                    return None
                aging = True
            if channel in entry[1]:
                out.add(sku)
        return out, aging

    def showable(self, skus: list[str], channel: str | None, location_id: str | None) -> set[str]:
        """``cached_showable`` else ``read_showable``: for code already in a thread."""
        hit = self.cached_showable(skus, channel, location_id)
        return hit if hit is not None else self.read_showable(skus, channel, location_id)

    async def showable_async(self, skus: list[str], channel: str | None, location_id: str | None) -> set[str]:
        """``showable`` for the event loop. Fresh entries answer from memory; once any is past half its
        age, the location's aging SKUs are read again in the background (read-ahead), so that a busy
        location's entries never expire under a request. A request that misses reads on the shelf's
        reader threads, one read per location at a time; requests that miss meanwhile wait for it rather
        than each reading (when every entry of a busy location expired at once, each missing request
        read on its own: p99 206 ms against p50 11 ms, measured). The reads are ``concurrent.futures``,
        not tied to one event loop: a read ahead outlives the request that started it."""
        hit = self._cached(skus, channel, location_id)
        if hit is not None:
            if hit[1] and location_id not in self._reading:
                self.reads_ahead += 1
                self._submit(location_id, [], None, self.max_age / 2)
            return hit[0]
        while (pending := self._reading.get(location_id)) is not None:
            await asyncio.wait([asyncio.wrap_future(pending)])  # its failure is its requester's to report
            hit = self._cached(skus, channel, location_id)
            if hit is not None:
                return hit[0]
        self.misses += 1
        return await asyncio.wrap_future(self._submit(location_id, skus, channel, self.max_age or None))

    def _submit(self, location_id: str | None, skus: list[str], channel: str | None,
                older_than: float | None) -> Future[set[str]]:
        read = self._readers.submit(self.read_showable, skus, channel, location_id, older_than)
        self._reading[location_id] = read

        def finished(f: Future[set[str]]) -> None:
            if self._reading.get(location_id) is f:
                del self._reading[location_id]
            if not skus and not f.cancelled() and f.exception() is not None:  # a read ahead: nobody waits on it
                log.warning("shelf read-ahead for %s failed: %s", location_id, f.exception())

        read.add_done_callback(finished)
        return read

    def read_showable(self, skus: list[str], channel: str | None, location_id: str | None,
                      older_than: float | None = None) -> set[str]:
        """Reads the SKUs of ``skus`` not cached fresh (two queries in one connection), then answers from
        the cache; ``older_than`` (seconds) also reads the location's other SKUs read longer ago than that
        (up to ``REFRESH_BATCH``). Raises ``UnknownLocation`` for a location that does not exist."""
        now = time.monotonic()
        cutoff = now - self.max_age
        table = self._shown.get(location_id, {})
        entries = {sku: table.get(sku) for sku in skus}
        stale = [sku for sku, e in entries.items() if e is None or e[0] <= cutoff]
        if older_than is not None:
            wanted = set(stale)
            stale += islice((sku for sku, e in list(table.items()) if e[0] <= now - older_than and sku not in wanted),
                            REFRESH_BATCH)
        if stale:
            with self.engine.connect() as conn:
                if location_id is not None and not self._fresh(self._locations.get(location_id, -1e18),
                                                               CUSTOMER_SECONDS, now):
                    if conn.execute(_LOCATION, {"location_id": location_id}).first() is None:
                        raise UnknownLocation(location_id)
                    self._locations[location_id] = now
                listed = dict(conn.execute(_LISTED, {"skus": stale}).all())
                pools: dict[str, set[str]] = {}
                if location_id is not None and listed:
                    for sku, pool in conn.execute(_AVAILABLE, {"skus": list(listed), "location_id": location_id}):
                        pools.setdefault(sku, set()).add(pool)
            self.reads += 1
            if self._entries + len(stale) > MAX_ENTRIES:
                self._shown, self._entries = {}, 0
            table = self._shown.setdefault(location_id, {})
            self._entries += sum(sku not in table for sku in stale)
            for sku in stale:
                entries[sku] = table[sku] = (now, shown_in(sku in listed, listed.get(sku), pools.get(sku, set()),
                                                           location_id is not None))
        return {sku for sku, e in entries.items() if channel in e[1]}
