"""Stock across central warehouse -> regional warehouses -> stores, replenished by (s, S) review.

State is a dense (location x SKU) matrix; a store stocks part of the catalogue. Every change is
emitted as a ledger movement (receipt, transfer_out, transfer_in, sale, return, adjustment), so
the on-hand of any day can be rebuilt by summing the ledger.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import polars as pl

from data.synthetic.world import World

LEAD_DAYS = {"store": 2, "regional_warehouse": 3, "central_warehouse": 7}


class Inventory:
    def __init__(self, world: World, rng: np.random.Generator, expected_units_per_day: float):
        kinds = world.stores["kind"].to_numpy()
        self.kinds = kinds
        self.parent = np.array([
            -1 if p is None else world.store_ids.index(p) for p in world.stores["parent_id"].to_list()
        ])
        n_loc, n_sku = len(kinds), len(world.sku_price)
        self.stocked = np.ones((n_loc, n_sku), dtype=bool)
        stores = kinds == "store"
        self.stocked[stores] = rng.random((stores.sum(), n_sku)) < 0.75
        share = world.sku_popularity / world.sku_popularity.sum()
        # first guess of daily demand per location, refined by an exponential moving average
        loc_share = np.where(stores, 0.6 / max(stores.sum(), 1), 0.4 / max((kinds == "regional_warehouse").sum(), 1))
        loc_share[kinds == "central_warehouse"] = 0.4
        self.rate = np.outer(loc_share, share) * expected_units_per_day * self.stocked + 0.02 * self.stocked
        self.lead = np.array([LEAD_DAYS[k] for k in kinds])
        self.on_hand = np.where(self.stocked, np.ceil(self.rate * (self.lead[:, None] + 14)), 0).astype(np.int64)
        self.in_transit = np.zeros_like(self.on_hand)
        self.arrivals: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray, str, str]]] = defaultdict(list)
        self.rng = rng
        self.location_ids = np.array(world.store_ids)
        self.sku_ids = np.array(world.products["sku"].to_list())
        self.opening = self.on_hand.copy()

    def opening_balance(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, str, str]]:
        loc, sku = np.nonzero(self.opening)
        return [(loc, sku, self.opening[loc, sku], "receipt", "opening balance")]

    def fulfil(self, lines: pl.DataFrame) -> pl.DataFrame:
        """Keep the lines the fulfilling location can serve from stock, in arrival order."""
        if lines.is_empty():
            return lines
        loc = lines["location"].to_numpy()
        sku = lines["sku"].to_numpy()
        qty = lines["quantity"].to_numpy()
        order = np.argsort(lines["seconds"].to_numpy(), kind="stable")
        pair = loc[order] * self.on_hand.shape[1] + sku[order]
        # cumulative demand per (location, sku) pair in time order
        by_pair = np.argsort(pair, kind="stable")
        q = qty[order][by_pair]
        p = pair[by_pair]
        starts = np.r_[True, p[1:] != p[:-1]]
        cum = np.cumsum(q)
        cum -= np.maximum.accumulate(np.where(starts, cum - q, 0))
        ok_sorted = cum <= self.on_hand.ravel()[p]
        ok = np.empty(len(lines), dtype=bool)
        ok[order[by_pair]] = ok_sorted
        kept = lines.filter(pl.Series(ok))
        np.subtract.at(self.on_hand, (kept["location"].to_numpy(), kept["sku"].to_numpy()), kept["quantity"].to_numpy())
        return kept

    def receive_arrivals(self, t: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, str, str]]:
        moves = self.arrivals.pop(t, [])
        for loc, sku, qty, _kind, _ref in moves:
            np.add.at(self.on_hand, (loc, sku), qty)
            np.subtract.at(self.in_transit, (loc, sku), qty)
        return moves

    def restock_returns(self, loc: np.ndarray, sku: np.ndarray, qty: np.ndarray) -> None:
        np.add.at(self.on_hand, (loc, sku), qty)

    def shrink(self, t: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, str, str]]:
        """Weekly stock count at stores: small losses found on a few shelves."""
        if t % 7 != 6:
            return []
        mask = (self.kinds == "store")[:, None] & self.stocked & (self.on_hand > 0)
        mask &= self.rng.random(mask.shape) < 0.03
        loc, sku = np.nonzero(mask)
        qty = -np.minimum(self.on_hand[loc, sku], 1 + self.rng.poisson(0.3, len(loc)))
        np.add.at(self.on_hand, (loc, sku), qty)
        return [(loc, sku, qty, "adjustment", f"stock count W{t // 7}")]

    def replenish(self, t: int, sold: np.ndarray, boost: np.ndarray | None = None
                  ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, str, str]]:
        """(s, S) review at end of day; returns today's transfer_out movements. Arrivals are queued.

        ``boost`` (per SKU) is the demand multiplier of promotions starting soon: buyers stock up
        for a deal they know is coming."""
        outflow = sold.astype(float)
        moves = []
        # stores, then regional warehouses, then the central warehouse; each pulls from its parent.
        for kind in ("store", "regional_warehouse", "central_warehouse"):
            rows = np.flatnonzero(self.kinds == kind)
            self.rate[rows] = 0.93 * self.rate[rows] + 0.07 * outflow[rows]
            lead = self.lead[rows][:, None]
            rate = self.rate[rows] * (boost[None, :] if boost is not None else 1.0)
            s = np.ceil(rate * (lead + 4)) + 1
            big_s = s + np.ceil(rate * 10) + 1
            position = self.on_hand[rows] + self.in_transit[rows]
            need = np.where(self.stocked[rows] & (position <= s), big_s - position, 0).astype(np.int64)
            r_idx, sku = np.nonzero(need)
            loc = rows[r_idx]
            qty = need[r_idx, sku]
            if kind == "central_warehouse":
                ref = f"PO-{t:04d}"
                self.arrivals[t + self.lead[0]].append((loc, sku, qty, "receipt", ref))
                self.in_transit[loc, sku] += qty
                continue
            src = self.parent[loc]
            # ship what the parent has; the parent's shortfall raises its own demand signal
            qty = np.minimum(qty, self._allocate(src, sku, qty))
            ok = qty > 0
            loc, sku, src, qty = loc[ok], sku[ok], src[ok], qty[ok]
            np.subtract.at(self.on_hand, (src, sku), qty)
            np.add.at(self.in_transit, (loc, sku), qty)
            np.add.at(outflow, (src, sku), qty)
            ref = f"TR-{t:04d}"
            moves.append((src, sku, -qty, "transfer_out", ref))
            arrive = t + self.lead[loc]
            for lead_days in np.unique(arrive):
                sel = arrive == lead_days
                self.arrivals[int(lead_days)].append((loc[sel], sku[sel], qty[sel], "transfer_in", ref))
        return moves

    def _allocate(self, src: np.ndarray, sku: np.ndarray, qty: np.ndarray) -> np.ndarray:
        """Split each parent's stock over the requests in order (first come, first served)."""
        pair = src * self.on_hand.shape[1] + sku
        order = np.argsort(pair, kind="stable")
        p, q = pair[order], qty[order]
        starts = np.r_[True, p[1:] != p[:-1]]
        cum = np.cumsum(q)
        cum -= np.maximum.accumulate(np.where(starts, cum - q, 0))
        available = self.on_hand.ravel()[p]
        granted_sorted = np.clip(available - (cum - q), 0, q)
        granted = np.empty_like(qty)
        granted[order] = granted_sorted
        return granted

    def movements_frame(self, moves, day_str: str, seconds: int, t: int) -> pl.DataFrame:
        frames = []
        for i, (loc, sku, qty, kind, ref) in enumerate(moves):
            if len(loc) == 0:
                continue
            frames.append(pl.DataFrame({
                "location_id": self.location_ids[loc].tolist(), "sku": self.sku_ids[sku].tolist(), "movement_type": kind,
                "quantity": qty.astype(np.int64), "reference": ref, "_part": i,
            }))
        if not frames:
            return pl.DataFrame()
        df = pl.concat(frames)
        return df.with_columns(
            movement_id=pl.format("M{}-{}", pl.lit(f"{t:04d}"), pl.int_range(pl.len())),
            moved_at=pl.lit(f"{day_str} {seconds // 3600:02d}:{seconds % 3600 // 60:02d}:00"),
        ).drop("_part")
