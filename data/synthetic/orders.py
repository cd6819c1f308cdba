"""One day of demand: orders and order lines from members and guests, every channel.

Demand is drawn before stock is known; ``inventory.Inventory.fulfil`` then drops the lines the
fulfilling location could not serve (a lost sale), so sales never exceed stock on hand.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from data.synthetic.calendar import demand_factor, festival_name
from data.synthetic.world import (
    CATEGORIES,
    CHANNEL_MIX,
    CHANNELS,
    COMPLEMENT_PROBABILITY,
    ONLINE_CHANNELS,
    World,
)

STORE_CHANNEL_IDX = {CHANNELS.index("store_pos"), CHANNELS.index("self_checkout")}
MARKETPLACE_IDX = CHANNELS.index("marketplace")
ONLINE_HOURS = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.5, 2, 2.5, 3, 3.5, 4, 3.5, 3, 3, 3.5, 4, 4.5, 5.5, 7, 7.5, 6, 3])
STORE_HOURS = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 2.5, 3.5, 4, 4.5, 4, 3.5, 3.5, 4, 4.5, 5, 5, 4, 3, 1.5, 0])
PROMO_ELASTICITY = 4.0  # demand multiplier = 1 + elasticity * discount


def promo_discounts(world: World, day: date) -> tuple[np.ndarray, np.ndarray]:
    """Per SKU: the discount in force on ``day`` (0 when none) and the index of its promotion (-1)."""
    promos = world.promotions.filter((pl.col("starts_on") <= day) & (pl.col("ends_on") >= day))
    n = len(world.sku_price)
    discount = np.zeros(n)
    promo_idx = np.full(n, -1)
    if promos.is_empty():
        return discount, promo_idx
    sku_index = {s: i for i, s in enumerate(world.products["sku"].to_list())}
    for row in promos.iter_rows(named=True):  # a handful of promotions per day
        if row["sku"] is not None:
            hit = np.array([sku_index[row["sku"]]])
        else:
            hit = np.flatnonzero(world.sku_category == world.category_names.index(row["category"]))
        better = row["discount_pct"] > discount[hit]
        discount[hit[better]] = row["discount_pct"]
        promo_idx[hit[better]] = int(row["promotion_id"][2:])
    return discount, promo_idx


def day_orders(world: World, rng: np.random.Generator, t: int, day: date, guest_share: float = 0.12) -> pl.DataFrame:
    """Candidate order lines for day ``t`` (before stock is checked).

    Columns: order_id, customer (index or -1), channel (index), location (index), fulfillment,
    sku (index), quantity, unit_price, discount_amount, promotion (int or -1), coupon_code,
    payment_method, seconds (time of day).
    """
    factor = demand_factor(day)
    active = np.flatnonzero((world.cust_signup_day <= t) & (world.cust_churn_day > t))
    per_customer = rng.poisson(world.cust_rate[active] * factor)
    members = np.repeat(active, per_customer)
    n_guests = rng.poisson(guest_share / (1 - guest_share) * len(members))
    customer = np.concatenate([members, np.full(n_guests, -1)])
    n_orders = len(customer)
    if n_orders == 0:
        return pl.DataFrame()
    is_member = customer >= 0
    member_c = np.where(is_member, customer, 0)

    # channel: the member's preferred one most of the time; guests buy in store.
    random_channel = rng.choice(len(CHANNELS), n_orders, p=CHANNEL_MIX / CHANNEL_MIX.sum())
    channel = np.where(rng.random(n_orders) < 0.7, world.cust_channel[member_c], random_channel)
    channel = np.where(is_member, channel, rng.choice(sorted(STORE_CHANNEL_IDX), n_orders, p=[0.7, 0.3]))
    in_store = np.isin(channel, list(STORE_CHANNEL_IDX))
    store_idx = np.flatnonzero(world.stores["kind"].to_numpy() == "store")
    home = np.where(is_member, world.cust_home_store[member_c], store_idx[rng.integers(0, len(store_idx), n_orders)])
    pickup = ~in_store & (channel != MARKETPLACE_IDX) & (rng.random(n_orders) < 0.25)
    region = world.store_region[home]
    rw = np.array([world.regional_warehouse_of_region[r] for r in range(region.max() + 1)])[region]
    location = np.where(in_store | pickup, home, rw)
    fulfillment = np.where(in_store, "in_store", np.where(pickup, "pickup", "delivery"))
    hours_profile = np.where(in_store[:, None], STORE_HOURS[None, :], ONLINE_HOURS[None, :])
    hour_cum = np.cumsum(hours_profile / hours_profile.sum(axis=1, keepdims=True), axis=1)
    hour = (rng.random(n_orders)[:, None] > hour_cum).sum(axis=1).clip(0, 23)
    seconds = hour * 3600 + rng.integers(0, 3600, n_orders)

    # lines: category from the member's affinity, SKU by popularity x promotion lift.
    n_lines = 1 + rng.poisson(np.where(in_store, 2.2, 1.2))
    line_order = np.repeat(np.arange(n_orders), n_lines)
    line_cust = customer[line_order]
    n_cat = len(world.category_names)
    cum = np.where((line_cust >= 0)[:, None], world.cust_affinity_cum[np.maximum(line_cust, 0)],
                   np.linspace(1 / n_cat, 1, n_cat)[None, :])
    category = (rng.random(len(line_order))[:, None] > cum).sum(axis=1).clip(0, n_cat - 1)
    discount, promo_idx = promo_discounts(world, day)
    weight = world.sku_popularity * (1 + PROMO_ELASTICITY * discount)
    sku = np.empty(len(line_order), dtype=int)
    for c in range(n_cat):
        lines_c = np.flatnonzero(category == c)
        skus_c = np.flatnonzero(world.sku_category == c)
        if len(lines_c) == 0:
            continue
        w = weight[skus_c]
        sku[lines_c] = skus_c[np.searchsorted(np.cumsum(w) / w.sum(), rng.random(len(lines_c))).clip(0, len(skus_c) - 1)]
    # deals also create demand of their own: promotion-sensitive shoppers add a deal item on impulse
    promoted = np.flatnonzero(discount > 0)
    if len(promoted):
        p_impulse = np.where(is_member, 0.35 * world.cust_promo_sensitivity[member_c], 0.03)
        impulse = np.flatnonzero(rng.random(n_orders) < p_impulse)
        w = world.sku_popularity[promoted] * discount[promoted]
        picks = promoted[np.searchsorted(np.cumsum(w) / w.sum(), rng.random(len(impulse))).clip(0, len(promoted) - 1)]
        line_order = np.concatenate([line_order, impulse])
        sku = np.concatenate([sku, picks])
        category = np.concatenate([category, world.sku_category[picks]])
    # "bought a phone, also bought a case"
    comp = world.sku_complement[sku]
    comp_p = np.array([COMPLEMENT_PROBABILITY.get(world.category_names[c], 0.0) for c in range(n_cat)])[category]
    add = (comp >= 0) & (rng.random(len(sku)) < comp_p)
    line_order = np.concatenate([line_order, line_order[add]])
    sku = np.concatenate([sku, comp[add]])
    grocery = np.array([CATEGORIES[c][5] for c in world.category_names])[world.sku_category[sku]]
    quantity = 1 + rng.poisson(np.where(grocery, 0.7, 0.08))

    coupon_p = np.where(is_member, 0.03 + 0.25 * world.cust_promo_sensitivity[member_c], 0.0)
    festival = festival_name(day)
    if festival:
        coupon_p = coupon_p * 1.8
    new_member = is_member & (t - world.cust_signup_day[member_c] < 30)
    has_coupon = rng.random(n_orders) < coupon_p
    coupon = np.where(~has_coupon, None, np.where(new_member, "WELCOME15", "FEST20" if festival else "MEMBER5"))
    coupon_pct = np.select([coupon == "WELCOME15", coupon == "FEST20", coupon == "MEMBER5"], [0.15, 0.20, 0.05], 0.0)

    online_pay = rng.choice(["wechat_pay", "alipay", "stored_value_card", "bank_card"], n_orders, p=[0.5, 0.35, 0.1, 0.05])
    store_pay = rng.choice(["wechat_pay", "alipay", "stored_value_card", "bank_card", "cash"], n_orders,
                           p=[0.45, 0.3, 0.1, 0.05, 0.1])
    payment = np.where(in_store, store_pay, online_pay)

    unit_price = np.round(world.sku_price[sku] * (1 - discount[sku]), 2)
    lines = pl.DataFrame({
        "order": line_order, "sku": sku, "quantity": quantity, "unit_price": unit_price,
        "promotion": np.where(discount[sku] > 0, promo_idx[sku], -1),
    })
    # one line per SKU within an order
    lines = lines.group_by("order", "sku", maintain_order=True).agg(
        pl.col("quantity").sum(), pl.col("unit_price").first(), pl.col("promotion").first()
    )
    o = lines["order"].to_numpy()
    return lines.with_columns(
        order_id=pl.Series([f"O{t:04d}{i:06d}" for i in range(n_orders)]).gather(o),
        customer=pl.Series(customer[o]),
        channel=pl.Series(channel[o]),
        location=pl.Series(location[o]),
        fulfillment=pl.Series(fulfillment[o]),
        coupon_code=pl.Series(coupon[o].tolist(), dtype=pl.Utf8),
        coupon_pct=pl.Series(coupon_pct[o]),
        payment_method=pl.Series(payment[o]),
        seconds=pl.Series(seconds[o]),
    ).with_columns(
        discount_amount=(pl.col("unit_price") * pl.col("quantity") * pl.col("coupon_pct")).round(2)
    ).drop("coupon_pct")


def is_online(channel_idx: np.ndarray) -> np.ndarray:
    return np.isin(channel_idx, [CHANNELS.index(c) for c in ONLINE_CHANNELS if c != "marketplace"])
