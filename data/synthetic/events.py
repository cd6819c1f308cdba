"""Tracking events (Segment e-commerce spec) for one day: buying sessions and browsing sessions.

Every online order gets the session that led to it (views, adds, cart, checkout, payment,
Order Completed); browsing sessions drop off along the funnel and never complete.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import polars as pl

from data.synthetic.orders import ONLINE_HOURS
from data.synthetic.world import CATEGORIES, CHANNEL_MIX, CHANNELS, ONLINE_CHANNELS, World

DEVICES = {
    "mini_program": ["wechat"], "app": ["ios", "android"], "h5": ["mobile_web", "desktop_web"],
    "live_stream": ["douyin"], "community_group": ["wechat"], "marketplace": ["marketplace"],
    "store_pos": ["pos"], "self_checkout": ["kiosk"],
}
# funnel continuation probabilities of browsing sessions
P_ADD, P_CHECKOUT, P_PAYMENT = 0.35, 0.35, 0.5
BROWSE_SESSIONS_PER_ORDER = 2.5


def day_events(world: World, rng: np.random.Generator, t: int, day: date, lines: pl.DataFrame,
               promo_active: np.ndarray) -> pl.DataFrame:
    """Events of day ``t``. ``lines`` are the fulfilled online order lines (with order_id, customer, ...)."""
    orders = (
        lines.group_by("order_id", maintain_order=True)
        .agg(pl.col("customer").first(), pl.col("channel").first(), pl.col("seconds").first(),
             pl.col("coupon_code").first(), pl.col("sku"),
             (pl.col("unit_price") * pl.col("quantity") - pl.col("discount_amount")).sum().alias("revenue"))
        if not lines.is_empty() else pl.DataFrame()
    )
    n_buy = len(orders)
    active = np.flatnonzero((world.cust_signup_day <= t) & (world.cust_churn_day > t))
    n_browse = rng.poisson(BROWSE_SESSIONS_PER_ORDER * max(n_buy, 1))
    logged_in = rng.random(n_browse) < 0.6
    browse_cust = np.where(logged_in & (len(active) > 0),
                           active[rng.integers(0, max(len(active), 1), n_browse)] if len(active) else -1, -1)
    online_idx = [CHANNELS.index(c) for c in ONLINE_CHANNELS if c != "marketplace"]
    mix = CHANNEL_MIX[online_idx] / CHANNEL_MIX[online_idx].sum()
    browse_channel = rng.choice(online_idx, n_browse, p=mix)
    hour_cum = np.cumsum(ONLINE_HOURS / ONLINE_HOURS.sum())
    browse_end = (np.searchsorted(hour_cum, rng.random(n_browse)) * 3600 + rng.integers(0, 3600, n_browse)).clip(0, 86399)

    # sessions: buyers first, then browsers
    cust = np.concatenate([orders["customer"].to_numpy() if n_buy else np.array([], int), browse_cust]).astype(int)
    channel = np.concatenate([orders["channel"].to_numpy() if n_buy else np.array([], int), browse_channel]).astype(int)
    end = np.concatenate([orders["seconds"].to_numpy() if n_buy else np.array([], int), browse_end]).astype(int)
    n = len(cust)
    buys = np.arange(n) < n_buy
    # a fifth of browsing sessions bounce from search or a list page without opening a product
    n_extra_views = np.where(buys, rng.poisson(1.5, n), (rng.random(n) < 0.8) * (1 + rng.poisson(1.5, n)))
    reach_add = buys | ((n_extra_views > 0) & (rng.random(n) < P_ADD))
    reach_checkout = buys | (reach_add & (rng.random(n) < P_CHECKOUT))
    reach_payment = buys | (reach_checkout & (rng.random(n) < P_PAYMENT))

    # event rows as (session, step rank, event name, sku): numpy parts, one frame at the end
    parts: list[tuple[np.ndarray, float, str, np.ndarray | None]] = []

    def add(mask_or_idx: np.ndarray, step: float, name: str, sku: np.ndarray | None = None) -> None:
        idx = np.flatnonzero(mask_or_idx) if mask_or_idx.dtype == bool else mask_or_idx
        if len(idx):
            parts.append((idx, step, name, sku))

    add(rng.random(n) < 0.45, 0, "Products Searched")
    add(rng.random(n) < 0.6, 1, "Product List Viewed")
    if promo_active.any():
        seen = rng.random(n) < 0.3
        add(seen, 1.5, "Promotion Viewed")
        add(seen & (rng.random(n) < 0.3), 1.6, "Promotion Clicked")
    # views of other products (by the shopper's category taste), then the bought SKUs
    view_session = np.repeat(np.arange(n), n_extra_views)
    add(view_session, 2, "Product Viewed", _pick_skus(world, rng, cust[view_session]))
    if n_buy:
        bought = orders.select("sku").with_row_index("session").explode("sku")
        b_sess, b_sku = bought["session"].to_numpy().astype(int), bought["sku"].to_numpy().astype(int)
        add(b_sess, 3, "Product Viewed", b_sku)
        add(b_sess, 4, "Product Added", b_sku)
    browse_add = np.flatnonzero(~buys & reach_add)
    add_sku = _pick_skus(world, rng, cust[browse_add])
    add(browse_add, 4, "Product Added", add_sku)
    removed = rng.random(len(browse_add)) < 0.2
    add(browse_add[removed], 4.5, "Product Removed", add_sku[removed])
    add(reach_add, 5, "Cart Viewed")
    add(reach_checkout, 6, "Checkout Started")
    has_coupon = np.zeros(n, dtype=bool)
    if n_buy:
        has_coupon[:n_buy] = orders["coupon_code"].is_not_null().to_numpy()
    add(has_coupon, 6.5, "Coupon Applied")
    add(reach_payment, 7, "Payment Info Entered")
    add(buys, 8, "Order Completed")

    names = [p[2] for p in parts]
    session = np.concatenate([p[0] for p in parts]).astype(np.int64)
    step = np.concatenate([np.full(len(p[0]), p[1]) for p in parts])
    name_code = np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(parts)])
    sku_all = np.concatenate([p[3] if p[3] is not None else np.full(len(p[0]), -1) for p in parts]).astype(np.int64)
    order = np.lexsort((step, session))  # by session, then funnel step; stable within a step
    s, sku_i = session[order], sku_all[order]
    name = np.array(names, dtype=object)[name_code[order]]
    # position of each event in its session and the session's event count
    first = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    counts = np.diff(np.r_[first, len(s)])
    pos = np.arange(len(s)) - np.repeat(first, counts)
    n_in = np.repeat(counts, counts)
    n_ev = len(s)
    gap = rng.integers(8, 75, n_ev)
    at = (end[s] - (n_in - 1 - pos) * gap).clip(0, 86399)
    sku_ids = np.array(world.products["sku"].to_list() + [None], dtype=object)
    cust_ids = np.array(world.customers["customer_id"].to_list() + [None], dtype=object)
    devices = np.array([rng.choice(DEVICES[CHANNELS[c]]) for c in range(len(CHANNELS))], dtype=object)
    device_pick = np.where(rng.random(n) < 0.5, devices[channel],
                           np.array([DEVICES[CHANNELS[c]][-1] for c in range(len(CHANNELS))], dtype=object)[channel])
    cats = np.array([CATEGORIES[c][6][0] for c in world.category_names], dtype=object)
    member = cust[s] >= 0
    order_ids = np.array((orders["order_id"].to_list() if n_buy else []) + [None] * (n - n_buy), dtype=object)
    revenue = np.concatenate([orders["revenue"].round(2).to_numpy() if n_buy else np.array([]), np.full(n - n_buy, np.nan)])
    coupons = np.array((orders["coupon_code"].to_list() if n_buy else []) + [None] * (n - n_buy), dtype=object)
    promo_ids = np.flatnonzero(promo_active)
    promo_pick = rng.choice(promo_ids, n_ev) if len(promo_ids) else np.zeros(n_ev, int)
    fav_cat = np.argmax(world.cust_affinity_cum[np.maximum(cust[s], 0)] > rng.random(n_ev)[:, None], axis=1)
    day_s = day.isoformat()
    return _frame({
        "event_id": pl.select(pl.format("ev-{}-{}", pl.lit(day_s),
                                        pl.int_range(n_ev).cast(pl.Utf8).str.zfill(7))).to_series(),
        "event": name,
        "occurred_at": clock_strings(day, at),
        "anonymous_id": np.where(member, np.char.add("anon-", cust_ids[cust[s]].astype(str)),
                                 np.char.add(f"anon-{t}-", s.astype(str))),
        "user_id": np.where(member & (rng.random(n_ev) < 0.9), cust_ids[cust[s]], None),
        "session_id": np.char.add(f"s{t:04d}-", s.astype(str)),
        "channel": np.array(CHANNELS, dtype=object)[channel[s]],
        "device": device_pick[s],
        "sku": np.where(sku_i >= 0, sku_ids[sku_i], None),
        "query": np.where(name == "Products Searched", cats[fav_cat], None),
        "list_id": np.where(name == "Product List Viewed", np.char.add("cat-", fav_cat.astype(str)), None),
        "order_id": np.where(name == "Order Completed", order_ids[s], None),
        "revenue": np.where(name == "Order Completed", revenue[s], np.nan),
        "coupon_code": np.where(np.isin(name, ["Coupon Applied", "Order Completed"]), coupons[s], None),
        "promotion_id": np.where(np.char.startswith(name.astype(str), "Promotion"),
                                 np.char.add("PR", np.char.zfill(promo_pick.astype(str), 5)), None),
    }).with_columns(pl.col("revenue").fill_nan(None))


def clock_strings(day: date, seconds: np.ndarray) -> pl.Series:
    """'YYYY-MM-DD HH:MM:SS' for each of ``seconds`` after midnight of ``day`` (0..86399), in one pass."""
    midnight = datetime.combine(day, datetime.min.time())
    return pl.select((pl.lit(midnight) + pl.duration(seconds=pl.Series(seconds, dtype=pl.Int64)))
                     .dt.strftime("%Y-%m-%d %H:%M:%S")).to_series()


def _frame(columns: dict) -> pl.DataFrame:
    """numpy object/str arrays become polars text columns (polars cannot write Object dtype)."""
    out = {}
    for name, col in columns.items():
        if isinstance(col, np.ndarray) and col.dtype.kind in "OU":
            out[name] = pl.Series(name, col.tolist(), dtype=pl.Utf8)
        else:
            out[name] = col
    return pl.DataFrame(out)


def _pick_skus(world: World, rng: np.random.Generator, cust: np.ndarray) -> np.ndarray:
    """SKUs a shopper looks at: category by their taste (uniform for anonymous), SKU by popularity."""
    n_cat = len(world.category_names)
    if len(cust) == 0:
        return np.array([], dtype=int)
    cum = np.where((cust >= 0)[:, None], world.cust_affinity_cum[np.maximum(cust, 0)], np.linspace(1 / n_cat, 1, n_cat))
    cat = (rng.random(len(cust))[:, None] > cum).sum(axis=1).clip(0, n_cat - 1)
    out = np.empty(len(cust), dtype=int)
    for c in np.unique(cat):
        sel = np.flatnonzero(cat == c)
        skus = np.flatnonzero(world.sku_category == c)
        w = np.cumsum(world.sku_popularity[skus])
        out[sel] = skus[np.searchsorted(w / w[-1], rng.random(len(sel))).clip(0, len(skus) - 1)]
    return out
