"""The retailer's fixed world: locations, catalogue, members and the promotion plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from data import contract
from data.synthetic.calendar import festival_name

REGIONS = [
    ("east", "Shanghai", 31.23, 121.47), ("north", "Beijing", 39.90, 116.40), ("south", "Guangzhou", 23.13, 113.26),
    ("west", "Chengdu", 30.57, 104.07), ("central", "Wuhan", 30.59, 114.31), ("northeast", "Shenyang", 41.80, 123.43),
    ("southwest", "Kunming", 25.04, 102.71), ("northwest", "Xi'an", 34.34, 108.94),
]

# category: (brands, base price, price spread, specs, return rate, grocery?, search terms)
CATEGORIES: dict[str, tuple[list[str], float, float, list[str], float, bool, list[str]]] = {
    "Phones": (["Huawei", "Xiaomi", "Apple", "Oppo"], 2800, 0.5, ["black / 128GB", "white / 256GB"], 0.04, False,
               ["phone", "5g phone", "smartphone"]),
    "Phone Accessories": (["Anker", "Ugreen", "Baseus"], 59, 0.4, ["black", "clear"], 0.05, False,
                          ["phone case", "charger", "screen protector"]),
    "Laptops": (["Lenovo", "Huawei", "Apple"], 5200, 0.4, ["16GB / 512GB"], 0.03, False, ["laptop", "notebook"]),
    "Computer Accessories": (["Logitech", "Ugreen"], 129, 0.5, ["black"], 0.04, False, ["mouse", "laptop bag"]),
    "Apparel": (["Uniqlo", "Li-Ning", "Anta"], 159, 0.5, ["S", "M", "L", "XL"], 0.15, False,
                ["t-shirt", "jacket", "down coat"]),
    "Shoes": (["Li-Ning", "Anta", "Nike"], 399, 0.4, ["40", "42", "44"], 0.12, False, ["running shoes", "sneakers"]),
    "Beauty": (["Proya", "L'Oreal", "Florasis"], 189, 0.5, ["50ml"], 0.03, False, ["face cream", "lipstick"]),
    "Snacks": (["Three Squirrels", "Oreo", "Lay's"], 19, 0.5, ["single", "family pack"], 0.005, True,
               ["nuts", "chips", "biscuits"]),
    "Beverages": (["Nongfu", "Coca-Cola", "Genki Forest"], 9, 0.4, ["500ml", "12 x 500ml"], 0.005, True,
                  ["water", "tea drink", "soda"]),
    "Dairy": (["Yili", "Mengniu", "Bright"], 29, 0.3, ["1L", "6 x 250ml"], 0.005, True, ["milk", "yogurt"]),
    "Coffee": (["Nestle", "Saturnbird"], 69, 0.4, ["instant", "beans"], 0.01, True, ["coffee"]),
    "Baby": (["Feihe", "Pampers", "Huggies"], 219, 0.4, ["stage 1", "stage 2"], 0.02, True, ["formula", "diapers"]),
    "Home": (["Midea", "Supor", "Xiaomi"], 249, 0.6, ["standard"], 0.05, False, ["rice cooker", "kettle"]),
}
# "bought a phone, also bought a case": each product of the key category gets a complement.
COMPLEMENTS = {"Phones": "Phone Accessories", "Laptops": "Computer Accessories", "Coffee": "Dairy",
               "Baby": "Baby", "Snacks": "Beverages"}
COMPLEMENT_PROBABILITY = {"Phones": 0.45, "Laptops": 0.40, "Coffee": 0.30, "Baby": 0.30, "Snacks": 0.25}
ONLINE_CHANNELS = list(contract.ONLINE_CHANNELS)
STORE_CHANNELS = list(contract.STORE_CHANNELS)
CHANNELS = ONLINE_CHANNELS + STORE_CHANNELS  # the order of CHANNEL_MIX
CHANNEL_MIX = np.array([0.25, 0.20, 0.08, 0.05, 0.04, 0.03, 0.25, 0.10])


@dataclass
class World:
    stores: pl.DataFrame
    products: pl.DataFrame
    customers: pl.DataFrame
    customer_truth: pl.DataFrame
    promotions: pl.DataFrame
    # arrays used by the daily simulation
    sku_category: np.ndarray
    sku_price: np.ndarray
    sku_popularity: np.ndarray
    sku_complement: np.ndarray  # index of the complement SKU or -1
    category_names: list[str]
    cust_rate: np.ndarray
    cust_signup_day: np.ndarray
    cust_churn_day: np.ndarray
    cust_affinity_cum: np.ndarray  # (customers, categories) cumulative category preference
    cust_channel: np.ndarray
    cust_home_store: np.ndarray  # index into store_ids
    cust_region: np.ndarray
    cust_promo_sensitivity: np.ndarray
    store_ids: list[str]
    store_region: np.ndarray
    regional_warehouse_of_region: dict[int, int]  # region index -> location index


def build_world(rng: np.random.Generator, *, start: date, n_days: int, n_regions: int, stores_per_region: int,
                n_products: int, n_customers: int, orders_per_day: float) -> World:
    stores, store_region, rw_of_region = _locations(rng, n_regions, stores_per_region)
    products, cat_idx, price, popularity, complement, cat_names = _catalogue(rng, n_products)
    store_ids = stores["store_id"].to_list()
    customers, truth, arrays = _customers(rng, start, n_days, n_customers, orders_per_day, cat_names,
                                          stores, store_region, n_regions)
    promotions = _promotions(rng, start, n_days, products, cat_names)
    return World(
        stores=stores, products=products, customers=customers, customer_truth=truth, promotions=promotions,
        sku_category=cat_idx, sku_price=price, sku_popularity=popularity, sku_complement=complement,
        category_names=cat_names, store_ids=store_ids, store_region=store_region,
        regional_warehouse_of_region=rw_of_region, **arrays,
    )


def _locations(rng: np.random.Generator, n_regions: int, per_region: int):
    rows = [dict(store_id="CW01", name="Central warehouse", kind="central_warehouse", region="all",
                 city="Wuhan", parent_id=None, latitude=30.59, longitude=114.31, opened_at=date(2015, 1, 1))]
    region_of = [-1]
    rw_of_region: dict[int, int] = {}
    for r, (region, city, lat, lon) in enumerate(REGIONS[:n_regions]):
        rw = f"RW{r + 1:02d}"
        rw_of_region[r] = len(rows)
        rows.append(dict(store_id=rw, name=f"{region.title()} regional warehouse", kind="regional_warehouse",
                         region=region, city=city, parent_id="CW01", latitude=lat, longitude=lon,
                         opened_at=date(2016, 1, 1)))
        region_of.append(r)
        for s in range(per_region):
            rows.append(dict(store_id=f"S{r + 1:02d}{s + 1:02d}", name=f"{city} store {s + 1}", kind="store",
                             region=region, city=city, parent_id=rw,
                             latitude=round(lat + rng.normal(0, 0.08), 5), longitude=round(lon + rng.normal(0, 0.08), 5),
                             opened_at=date(2017 + s % 5, 1 + s % 12, 1)))
            region_of.append(r)
    return pl.DataFrame(rows), np.array(region_of), rw_of_region


def _catalogue(rng: np.random.Generator, n_products: int):
    cat_names = list(CATEGORIES)
    weights = np.array([1.0 if not CATEGORIES[c][5] else 1.6 for c in cat_names])
    per_cat = np.maximum(2, np.round(n_products * weights / weights.sum())).astype(int)
    rows, cat_idx, price, product_of_sku = [], [], [], []
    pid = 0
    for c, (cat, (brands, base, spread, specs, _ret, _groc, _terms)) in enumerate(zip(cat_names, CATEGORIES.values(),
                                                                                     strict=True)):
        for i in range(per_cat[c]):
            pid += 1
            brand = brands[i % len(brands)]
            list_price = float(np.round(base * np.exp(rng.normal(0, spread)), 0)) - 0.1
            n_specs = 1 + int(rng.integers(0, len(specs)))
            for s, spec in enumerate(specs[:n_specs]):
                sku_price = round(list_price * (1 + 0.1 * s), 1)
                rows.append(dict(sku=f"SKU{pid:05d}-{s + 1}", product_id=f"P{pid:05d}",
                                 name=f"{brand} {cat.rstrip('s')} {i + 1}", category=cat,
                                 subcategory=_terms[i % len(_terms)], brand=brand, supplier_id=f"SUP{c + 1:02d}",
                                 spec=spec, price=sku_price, cost=round(sku_price * rng.uniform(0.55, 0.75), 2),
                                 listed=True))
                cat_idx.append(c)
                price.append(sku_price)
                product_of_sku.append(pid)
    products = pl.DataFrame(rows)
    cat_idx_a = np.array(cat_idx)
    n = len(rows)
    # Zipf-like popularity within category, first spec of a product the most popular.
    popularity = rng.pareto(1.3, n) + 0.2
    # complements: product k of a category pairs with product k of its complement category.
    complement = np.full(n, -1)
    for cat, comp in COMPLEMENTS.items():
        src = np.flatnonzero(cat_idx_a == cat_names.index(cat))
        dst = np.flatnonzero(cat_idx_a == cat_names.index(comp))
        if cat == comp:
            dst = np.roll(dst, 1)
        complement[src] = dst[np.arange(len(src)) % len(dst)]
    return products, cat_idx_a, np.array(price), popularity, complement, cat_names


def _customers(rng, start: date, n_days: int, n: int, orders_per_day: float, cat_names, stores, store_region,
               n_regions):
    # Most members joined before the window opens; the rest sign up over it.
    signup_day = np.where(rng.random(n) < 0.6, -rng.integers(1, 720, n), rng.integers(0, max(n_days - 1, 1), n))
    # Lifetimes: exponential, so churn happens all along (known by construction, kept in the truth table).
    lifetime = rng.exponential(420, n).astype(int) + 14
    churn_day = signup_day + lifetime
    # Purchase rates: gamma heterogeneity, scaled so the active base yields ``orders_per_day``.
    rate = rng.gamma(0.9, 1.0, n)
    active_mid = ((signup_day <= n_days // 2) & (churn_day > n_days // 2)).sum()
    rate *= (0.85 * orders_per_day) / max(rate.mean() * max(active_mid, 1), 1e-9)
    affinity = rng.dirichlet(np.full(len(cat_names), 0.35), n)
    affinity = 0.8 * affinity + 0.2 / len(cat_names)
    channel_idx = rng.choice(len(CHANNELS), n, p=CHANNEL_MIX / CHANNEL_MIX.sum())
    store_idx = np.flatnonzero(stores["kind"].to_numpy() == "store")
    home_store = store_idx[rng.integers(0, len(store_idx), n)]
    region = store_region[home_store]
    promo_sens = rng.beta(1.5, 3.0, n)
    tier = np.where(rate > np.quantile(rate, 0.95), "diamond", np.where(rate > np.quantile(rate, 0.75), "gold", "silver"))
    ids = [f"C{i + 1:07d}" for i in range(n)]
    signup_at = [datetime.combine(start + timedelta(days=int(d)), datetime.min.time()) + timedelta(
        minutes=int(m)) for d, m in zip(signup_day, rng.integers(480, 1320, n), strict=True)]
    birthday = [date(1960, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 365 * 45, n)]
    region_names = [r[0] for r in REGIONS]
    customers = pl.DataFrame({
        "customer_id": ids,
        "signup_at": signup_at,
        "signup_channel": [CHANNELS[c] for c in channel_idx],
        "region": [region_names[r] for r in region],
        "home_store_id": stores["store_id"].gather(home_store),
        "birthday": birthday,
        "gender": rng.choice(["F", "M"], n, p=[0.56, 0.44]),
        "account_type": np.where(np.isin(channel_idx, [6, 7]), "store_card", "online"),
        "tier": tier,
    })
    truth = pl.DataFrame({
        "customer_id": ids,
        "signup_date": [start + timedelta(days=int(d)) for d in signup_day],
        "churn_date": [start + timedelta(days=int(d)) for d in churn_day],
        "purchase_rate_per_day": rate,
        "promo_sensitivity": promo_sens,
        "preferred_channel": [CHANNELS[c] for c in channel_idx],
        "favourite_category": [cat_names[c] for c in np.argmax(affinity, axis=1)],
    })
    arrays = dict(cust_rate=rate, cust_signup_day=signup_day, cust_churn_day=churn_day,
                  cust_affinity_cum=np.cumsum(affinity, axis=1), cust_channel=channel_idx,
                  cust_home_store=home_store, cust_region=region, cust_promo_sensitivity=promo_sens)
    return customers, truth, arrays


def _promotions(rng, start: date, n_days: int, products: pl.DataFrame, cat_names) -> pl.DataFrame:
    """Festival-wide category promotions plus weekly SKU deals. Lift is applied in the order simulation."""
    rows = []
    skus = products["sku"].to_list()
    cats = products["category"].to_list()
    day = start
    end = start + timedelta(days=n_days)
    pid = 0
    while day < end:
        fest = festival_name(day)
        if fest and (day == start or festival_name(day - timedelta(days=1)) != fest):
            length = 1
            while festival_name(day + timedelta(days=length)) == fest:
                length += 1
            for cat in rng.choice(cat_names, 4, replace=False):
                pid += 1
                rows.append(dict(promotion_id=f"PR{pid:05d}", name=f"{fest} {cat}", kind="festival",
                                 category=str(cat), sku=None, discount_pct=float(rng.choice([0.1, 0.15, 0.2, 0.3])),
                                 starts_on=day, ends_on=day + timedelta(days=length - 1)))
        if day.weekday() == 0:  # weekly deals on a handful of SKUs
            for i in rng.choice(len(skus), max(2, len(skus) // 60), replace=False):
                pid += 1
                rows.append(dict(promotion_id=f"PR{pid:05d}", name=f"weekly deal {skus[i]}", kind="weekly_deal",
                                 category=cats[i], sku=skus[i], discount_pct=float(rng.choice([0.1, 0.2, 0.25])),
                                 starts_on=day, ends_on=day + timedelta(days=6)))
        day += timedelta(days=1)
    return pl.DataFrame(rows, schema={"promotion_id": pl.Utf8, "name": pl.Utf8, "kind": pl.Utf8, "category": pl.Utf8,
                                      "sku": pl.Utf8, "discount_pct": pl.Float64, "starts_on": pl.Date,
                                      "ends_on": pl.Date})
