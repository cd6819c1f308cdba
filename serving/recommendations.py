"""In-process recommendation lookups with the business filters applied at serve time.

``RecommendationIndex`` holds the marts ``customer_recommendations``, ``similar_items`` and
``popular_items`` as integer arrays (SKU codes), so one lookup is a few numpy operations on at
most 50 candidates: no database round trip. Filters are boolean masks over the SKU codes
(``index.sku_mask(...)``): listed, visible in the channel, in stock at the customer's store or
warehouse; the cart's SKUs are left out per call.

Known customers get their own list (variant ``repeat`` or ``new``); guests and new customers get
the cold-start path: items similar to what the session viewed, then what is popular in their
region (and category).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import polars as pl


@dataclass
class RecommendationIndex:
    skus: np.ndarray  # code -> sku (object array)
    code_of: dict[str, int]  # sku -> code
    customer_row: dict[tuple[str, str], int]  # (customer_id, variant) -> row of ``lists``
    lists: np.ndarray  # (rows, top_n) int32 SKU codes, best first, -1 padded
    similar: np.ndarray  # (n_skus, similar_n) int32 SKU codes, -1 padded
    popular: dict[tuple[str, str], np.ndarray]  # (region, category) -> SKU codes, most popular first
    region_of: dict[str, str]  # customer_id -> region
    together: np.ndarray  # (n_skus, n) int32 SKU codes bought with each SKU, by confidence, -1 padded
    # row of ``lists`` -> its SKUs as str, made on first use: a list asked for with no cart or mask is then
    # a slice (numpy's per-call overhead was most of a lookup's ~10 us)
    _names: dict[int, list[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_frames(cls, recommendations: pl.DataFrame, similar: pl.DataFrame, popular: pl.DataFrame,
                    regions: pl.DataFrame | None = None, together: pl.DataFrame | None = None
                    ) -> RecommendationIndex:
        """Build from the published frames (``serving.published.TABLES``): ``together`` is
        bought_together (sku, rank, other_sku)."""
        together = together if together is not None else pl.DataFrame(
            schema={"sku": pl.Utf8, "rank": pl.Int64, "other_sku": pl.Utf8})
        names = [recommendations["sku"], similar["sku"], similar["similar_sku"], popular["sku"], together["sku"],
                 together["other_sku"]]
        skus = pl.concat([n.cast(pl.Utf8) for n in names]).unique().sort()
        codes = pl.DataFrame({"sku": skus, "code": np.arange(len(skus), dtype=np.int32)})

        def grid(frame: pl.DataFrame, key: list[str], item: str) -> tuple[pl.DataFrame, np.ndarray]:
            frame = frame.join(codes.rename({"sku": item}), on=item)
            keys = frame.select(key).unique(maintain_order=True).sort(key).with_row_index("row")
            frame = frame.join(keys, on=key)
            width = int(frame["rank"].max()) if len(frame) else 0
            out = np.full((len(keys), width), -1, dtype=np.int32)
            out[frame["row"].to_numpy(), frame["rank"].to_numpy() - 1] = frame["code"].to_numpy()
            return keys, out

        rec_keys, lists = grid(recommendations, ["customer_id", "variant"], "sku")

        def by_code(frame: pl.DataFrame, item: str) -> np.ndarray:
            keys, rows = grid(frame, ["sku"], item)
            out = np.full((len(skus), rows.shape[1]), -1, dtype=np.int32)
            keyed = keys.join(codes, on="sku")
            out[keyed["code"].to_numpy()] = rows[keyed["row"].to_numpy()]
            return out

        similar_by_code, together_by_code = by_code(similar, "similar_sku"), by_code(together, "other_sku")
        pop_keys, pop_grid = grid(popular, ["region", "category"], "sku")
        popular_lists = {(r, c): row[row >= 0] for (r, c), row in zip(pop_keys.select("region", "category").iter_rows(),
                                                                        pop_grid, strict=True)}
        return cls(
            skus=skus.to_numpy().astype(object), code_of=dict(zip(skus.to_list(), range(len(skus)), strict=True)),
            customer_row={(c, v): r for r, c, v in rec_keys.select("row", "customer_id", "variant").iter_rows()},
            lists=lists, similar=similar_by_code, popular=popular_lists,
            region_of=dict(regions.select("customer_id", "region").iter_rows()) if regions is not None else {},
            together=together_by_code,
        )

    # ------------------------------------------------------------ filters

    def sku_mask(self, allowed_skus: Iterable[str] | None = None, blocked_skus: Iterable[str] = ()) -> np.ndarray:
        """Boolean mask over SKU codes: True where a SKU may be shown. ``allowed_skus`` (e.g. listed,
        visible in the channel and in stock at the location) restricts; ``blocked_skus`` removes."""
        if allowed_skus is None:
            mask = np.ones(len(self.skus), dtype=bool)
        else:
            mask = np.zeros(len(self.skus), dtype=bool)
            mask[self.codes(allowed_skus)] = True
        mask[self.codes(blocked_skus)] = False
        return mask

    def codes(self, skus: Iterable[str]) -> np.ndarray:
        """SKU codes of the SKUs this index knows (unknown SKUs are left out)."""
        return np.fromiter((c for c in map(self.code_of.get, skus) if c is not None), dtype=np.int64)

    # ------------------------------------------------------------ lookups

    def recommend(self, customer_id: str | None, n: int = 10, *, variant: str = "repeat",
                  mask: np.ndarray | None = None, cart: Iterable[str] = (), session_skus: Iterable[str] = (),
                  region: str | None = None, category: str | None = None) -> list[str]:
        """Up to ``n`` SKUs for the customer, best first, passing ``mask`` and not in ``cart``."""
        row = self.customer_row.get((customer_id, variant)) if customer_id is not None else None
        if row is not None and mask is None and not cart:
            names = self._names.get(row)
            if names is None:
                codes = self.lists[row]
                names = self._names[row] = self.skus[codes[codes >= 0]].tolist()
            if len(names) >= n:
                return names[:n]
        cart_codes = self.codes(cart)
        picked = self._take(self.lists[row], n, mask, cart_codes) if row is not None else np.empty(0, np.int64)
        if len(picked) < n:  # cold start or a list emptied by the filters
            region = region or self.region_of.get(customer_id or "", "all")
            picked = self._fill(picked, n, mask, cart_codes, self.codes(session_skus), region, category)
        return self.skus[picked].tolist()

    def similar_to(self, sku: str, n: int = 10, mask: np.ndarray | None = None) -> list[str]:
        return self.related(sku, "similar", n, mask)

    def related(self, sku: str, kind: str, n: int = 10, mask: np.ndarray | None = None) -> list[str]:
        """Up to ``n`` SKUs ``similar`` to ``sku`` or ``bought_together`` with it, best first, passing ``mask``."""
        code = self.code_of.get(sku)
        if code is None:
            return []
        table = self.similar if kind == "similar" else self.together
        return self.skus[self._take(table[code], n, mask, np.array([code]))].tolist()

    def _take(self, row: np.ndarray, n: int, mask: np.ndarray | None, exclude: np.ndarray) -> np.ndarray:
        row = row[row >= 0]
        keep = np.ones(len(row), dtype=bool) if mask is None else mask[row]
        if len(exclude):
            keep &= ~np.isin(row, exclude)
        return row[keep][:n]

    def _fill(self, picked: np.ndarray, n: int, mask: np.ndarray | None, cart: np.ndarray, session: np.ndarray,
              region: str, category: str | None) -> np.ndarray:
        sources = []
        if len(session):
            sources.append(self.similar[session].T.ravel())  # the neighbours of every viewed SKU, rank by rank
        for key in ((region, category or "all"), (region, "all"), ("all", category or "all"), ("all", "all")):
            if key in self.popular:
                sources.append(self.popular[key])
        exclude = np.concatenate([cart, picked, session]).astype(np.int64)
        for source in sources:
            more = self._take(source, n - len(picked), mask, exclude)
            more = more[np.sort(np.unique(more, return_index=True)[1])]  # first occurrence order, no repeats
            picked = np.concatenate([picked, more[: n - len(picked)]]).astype(np.int64)
            if len(picked) >= n:
                break
            exclude = np.concatenate([exclude, more])
        return picked
