"""Association rules computed inside the warehouse engine (DuckDB SQL), level by level (Apriori).

Input: a relation of distinct (basket_id, item) rows. Item pairs are counted by a self-join of
the baskets restricted to frequent items; longer itemsets extend frequent (k-1)-itemsets whose
every (k-1)-subset is frequent, counted by joining each basket's frequent items. Support is the
share of baskets, so the numbers equal mlxtend's ``fpgrowth`` + ``association_rules`` on the
same baskets and thresholds (tested).

Very large baskets (a wholesaler's 300-line invoice) make pair counting quadratic; baskets with
more than ``max_basket_items`` distinct items are left out, and the count of those is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from models.errors import NotEnoughData


@dataclass(frozen=True)
class RuleConfig:
    min_support: float = 0.01
    min_confidence: float = 0.0
    max_len: int = 3
    max_basket_items: int = 100


@dataclass(frozen=True)
class Itemsets:
    itemsets: pl.DataFrame  # items (sorted list of str), size, support, count
    n_baskets: int
    baskets_left_out: int


def frequent_itemsets(con: duckdb.DuckDBPyConnection, baskets: str, config: RuleConfig) -> Itemsets:
    """Frequent itemsets of ``baskets`` (a table or view with basket_id, item)."""
    if not 0 < config.min_support <= 1:
        raise ValueError("min_support must be in (0, 1]")
    if config.max_len < 1:
        raise ValueError("max_len must be >= 1")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _b AS
        WITH d AS (SELECT DISTINCT CAST(basket_id AS VARCHAR) AS basket_id, CAST(item AS VARCHAR) AS item
                   FROM {baskets} WHERE basket_id IS NOT NULL AND item IS NOT NULL),
        sizes AS (SELECT basket_id, count(*) AS n FROM d GROUP BY 1)
        SELECT d.basket_id, d.item FROM d JOIN sizes USING (basket_id) WHERE sizes.n <= {int(config.max_basket_items)}""")
    n_all = con.execute(f"SELECT count(DISTINCT CAST(basket_id AS VARCHAR)) FROM {baskets} "
                        "WHERE basket_id IS NOT NULL AND item IS NOT NULL").fetchall()[0][0]
    n = con.execute("SELECT count(DISTINCT basket_id) FROM _b").fetchall()[0][0]
    if n == 0:
        raise NotEnoughData("no baskets to mine (all empty or above max_basket_items)",
                            "orders of at least two lines")
    min_count = _min_count(config.min_support, n)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _l1 AS
        SELECT item, count(*) AS cnt FROM _b GROUP BY item HAVING count(*) >= {min_count}""")
    # baskets reduced to their frequent items, numbered for cheap joins
    con.execute("""CREATE OR REPLACE TEMP TABLE _fb AS
        SELECT b.basket_id, b.item FROM _b b SEMI JOIN _l1 USING (item)""")
    frames = [con.sql("SELECT [item] AS items, 1 AS size, cnt FROM _l1").pl()]
    if config.max_len >= 2:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _l2 AS
            SELECT a.item AS i1, b.item AS i2, count(*) AS cnt
            FROM _fb a JOIN _fb b ON a.basket_id = b.basket_id AND a.item < b.item
            GROUP BY 1, 2 HAVING count(*) >= {min_count}""")
        frames.append(con.sql("SELECT [i1, i2] AS items, 2 AS size, cnt FROM _l2").pl())
    k = 2
    while k < config.max_len:
        k += 1
        prev, cur = f"_l{k - 1}", f"_l{k}"
        cols = [f"i{j}" for j in range(1, k)]
        # candidates: two (k-1)-itemsets sharing the first k-2 items; every (k-1)-subset frequent
        share = " AND ".join(f"p.{c} = q.{c}" for c in cols[:-1]) or "TRUE"
        cand_cols = ", ".join([f"p.{c}" for c in cols] + [f"q.{cols[-1]} AS i{k}"])
        subsets = []
        for drop in range(k - 1):  # the subsets that drop one of the first k-1 items
            keep = [f"i{j}" for j in range(1, k + 1) if j != drop + 1]
            cond = " AND ".join(f"s.i{j + 1} = c.{name}" for j, name in enumerate(keep))
            subsets.append(f"EXISTS (SELECT 1 FROM {prev} s WHERE {cond})")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _cand AS
            SELECT * FROM (SELECT {cand_cols} FROM {prev} p JOIN {prev} q ON {share} AND p.{cols[-1]} < q.{cols[-1]}) c
            WHERE {' AND '.join(subsets) if subsets else 'TRUE'}""")
        if con.execute("SELECT count(*) FROM _cand").fetchall()[0][0] == 0:
            break
        joins = " ".join(f"JOIN _fb b{j} ON b{j}.basket_id = b1.basket_id AND b{j}.item = c.i{j}" for j in range(2, k + 1))
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {cur} AS
            SELECT {', '.join(f'c.i{j}' for j in range(1, k + 1))}, count(*) AS cnt
            FROM _cand c JOIN _fb b1 ON b1.item = c.i1 {joins}
            GROUP BY ALL HAVING count(*) >= {min_count}""")
        frames.append(con.sql(f"SELECT [{', '.join(f'i{j}' for j in range(1, k + 1))}] AS items, {k} AS size, cnt "
                              f"FROM {cur}").pl())
        if con.execute(f"SELECT count(*) FROM {cur}").fetchall()[0][0] == 0:
            break
    itemsets = pl.concat(frames, how="vertical_relaxed").with_columns(
        support=pl.col("cnt") / n, size=pl.col("size").cast(pl.Int32)).rename({"cnt": "count"})
    return Itemsets(itemsets.sort("size", "count", descending=[False, True]), n, n_all - n)


def _min_count(min_support: float, n: int) -> int:
    """Smallest basket count whose support reaches min_support (exact, like mlxtend's >= test)."""
    import math

    c = max(1, math.ceil(min_support * n - 1e-9))
    while c > 1 and (c - 1) / n >= min_support:
        c -= 1
    while c / n < min_support:
        c += 1
    return c


def rules(found: Itemsets, min_confidence: float = 0.0) -> pl.DataFrame:
    """Every rule A -> C from the frequent itemsets (A, C non-empty, disjoint, A u C frequent).

    Columns: antecedents, consequents (sorted lists), antecedent_support, consequent_support,
    support, confidence, lift, leverage, conviction (inf when confidence is 1)."""
    sets = found.itemsets
    support_of = {tuple(items): s for items, s in zip(sets["items"].to_list(), sets["support"].to_list(), strict=True)}
    rows = []
    from itertools import combinations

    for items, size, s in zip(sets["items"].to_list(), sets["size"].to_list(), sets["support"].to_list(), strict=True):
        if size < 2:
            continue
        for r in range(1, size):
            for ante in combinations(items, r):
                cons = tuple(i for i in items if i not in ante)
                sa, sc = support_of[ante], support_of[cons]
                conf = s / sa
                if conf < min_confidence:
                    continue
                rows.append((list(ante), list(cons), sa, sc, s, conf, conf / sc, s - sa * sc,
                             float("inf") if conf >= 1 else (1 - sc) / (1 - conf)))
    schema = {"antecedents": pl.List(pl.Utf8), "consequents": pl.List(pl.Utf8), "antecedent_support": pl.Float64,
              "consequent_support": pl.Float64, "support": pl.Float64, "confidence": pl.Float64, "lift": pl.Float64,
              "leverage": pl.Float64, "conviction": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row").sort("lift", descending=True)


def frequently_bought_together(rule_table: pl.DataFrame, top_k: int = 10) -> pl.DataFrame:
    """Top-k companions per SKU from the single-item rules, by confidence then lift."""
    pairs = rule_table.filter((pl.col("antecedents").list.len() == 1) & (pl.col("consequents").list.len() == 1))
    return (
        pairs.select(sku=pl.col("antecedents").list.first(), other_sku=pl.col("consequents").list.first(),
                     confidence="confidence", lift="lift", support="support")
        .sort(["sku", "confidence", "lift", "other_sku"], descending=[False, True, True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("sku"))
        .filter(pl.col("rank") <= top_k)
    )
