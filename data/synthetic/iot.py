"""Store sensor readings for one day: footfall counters, RFID shelf reads, smart shelves, fridges."""

from __future__ import annotations

import numpy as np
import polars as pl

from data.synthetic.orders import STORE_HOURS

SMART_SHELF_SHARE = 0.05  # share of stocked store SKUs on a weighing smart shelf
RFID_CATEGORIES = ("Apparel", "Shoes")


def day_iot(t: int, day_s: str, rng: np.random.Generator, store_locs: np.ndarray, location_ids: np.ndarray,
            store_visits: np.ndarray, on_hand: np.ndarray, smart_shelf: np.ndarray, rfid_tagged: np.ndarray,
            sku_ids: np.ndarray) -> pl.DataFrame:
    """``store_visits``: buying visits per store location today (footfall is ~3.5x that)."""
    frames = []
    # entrance counters, hourly while open
    hours = np.flatnonzero(STORE_HOURS > 0)
    profile = STORE_HOURS[hours] / STORE_HOURS[hours].sum()
    expected = np.outer(store_visits * 3.5 + 20, profile)
    counts = rng.poisson(expected)
    s_idx, h_idx = np.indices(counts.shape)
    frames.append(pl.DataFrame({
        "device_id": np.char.add("FF-", location_ids[store_locs][s_idx.ravel()].astype(str)).tolist(),
        "kind": "footfall", "store_id": location_ids[store_locs][s_idx.ravel()].tolist(), "sku": None,
        "value": counts.ravel().astype(float),
        "read_at": [f"{day_s} {hours[h]:02d}:59:59" for h in h_idx.ravel()],
    }, schema_overrides={"sku": pl.Utf8}))
    # smart shelves weigh stock at opening; RFID gates read tags of apparel at opening
    for kind, mask, noise in (("shelf_stock", smart_shelf, 0.6), ("rfid_read", rfid_tagged, 0.0)):
        loc, sku = np.nonzero(mask)
        if len(loc) == 0:
            continue
        value = np.maximum(on_hand[loc, sku] + np.round(rng.normal(0, noise, len(loc))), 0) if noise else on_hand[loc, sku]
        if kind == "rfid_read":  # a gate misses a tag now and then
            value = value - rng.binomial(value.astype(int), 0.02)
        frames.append(pl.DataFrame({
            "device_id": np.char.add(f"{'SS' if kind == 'shelf_stock' else 'RF'}-", location_ids[loc].astype(str)).tolist(),
            "kind": kind, "store_id": location_ids[loc].tolist(), "sku": sku_ids[sku].tolist(),
            "value": value.astype(float),
            "read_at": f"{day_s} 07:00:00",
        }))
    # cold-chain fridges every two hours, with the odd excursion
    temp_hours = np.arange(0, 24, 2)
    temps = 4 + rng.normal(0, 0.5, (len(store_locs), len(temp_hours)))
    temps += (rng.random(temps.shape) < 0.003) * rng.uniform(4, 8, temps.shape)
    s_idx, h_idx = np.indices(temps.shape)
    frames.append(pl.DataFrame({
        "device_id": np.char.add("FR-", location_ids[store_locs][s_idx.ravel()].astype(str)).tolist(),
        "kind": "temperature", "store_id": location_ids[store_locs][s_idx.ravel()].tolist(), "sku": None,
        "value": np.round(temps.ravel(), 2),
        "read_at": [f"{day_s} {temp_hours[h]:02d}:00:00" for h in h_idx.ravel()],
    }, schema_overrides={"sku": pl.Utf8}))
    df = pl.concat(frames, how="vertical_relaxed")
    return df.with_columns(reading_id=pl.format("r-{}-{}", pl.lit(day_s), pl.int_range(pl.len())))
