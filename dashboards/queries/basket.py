"""Basket: the association rules, filtered and sorted."""

from __future__ import annotations

from typing import Literal

import polars as pl

from dashboards.snapshot import Marts

SortBy = Literal["lift", "confidence", "support"]


def rules(src: Marts, sku: str | None = None, category: str | None = None, min_lift: float = 1.0,
          sort: SortBy = "lift", limit: int = 500) -> pl.DataFrame:
    """Rules "who buys <if> also buys <then>", containing ``sku`` (either side) or a SKU of
    ``category``, with lift at least ``min_lift``."""
    assert sort in ("lift", "confidence", "support")
    parts, params = ["lift >= ?"], [min_lift]
    if sku:
        parts.append("(list_contains(antecedents, ?) OR list_contains(consequents, ?))")
        params += [sku, sku]
    if category:
        parts.append("""len(list_filter(list_concat(antecedents, consequents),
                         s -> s IN (SELECT sku FROM marts.dim_product WHERE category = ?))) > 0""")
        params.append(category)
    return src.query(f"""SELECT array_to_string(antecedents, ' + ') AS if_bought,
                                array_to_string(consequents, ' + ') AS then_bought,
                                support, confidence, lift, n_baskets
                         FROM marts.association_rules WHERE {' AND '.join(parts)}
                         ORDER BY {sort} DESC LIMIT ?""", [*params, limit])


def categories(src: Marts) -> list[str]:
    return src.query("SELECT DISTINCT category FROM marts.dim_product WHERE category IS NOT NULL ORDER BY 1"
                     )["category"].to_list()
