"""Association rules in SQL equal mlxtend's fpgrowth + association_rules on the same real baskets."""

from __future__ import annotations

import duckdb
import pandas as pd
import polars as pl
import pytest

from models.association import RuleConfig, frequent_itemsets, frequently_bought_together, rules
from tests.helpers import ONLINE_RETAIL


@pytest.fixture(scope="module")
def baskets() -> pl.DataFrame:
    """UCI Online Retail invoices of March 2011 (no cancellations): real baskets."""
    df = pl.read_parquet(ONLINE_RETAIL).filter(
        pl.col("InvoiceDate").is_between(pl.datetime(2011, 3, 1), pl.datetime(2011, 4, 1), closed="left")
        & ~pl.col("InvoiceNo").str.starts_with("C") & (pl.col("Quantity") > 0))
    return df.select(basket_id="InvoiceNo", item="StockCode").unique()


def _mlxtend(baskets: pl.DataFrame, min_support: float, max_len: int):
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    onehot = pd.crosstab(baskets["basket_id"].to_pandas(), baskets["item"].to_pandas()).astype(bool)
    sets = fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=max_len)
    found = association_rules(sets, num_itemsets=len(onehot), metric="confidence", min_threshold=0.0)
    return sets, found


def test_rules_equal_mlxtend_on_real_baskets(baskets):
    config = RuleConfig(min_support=0.02, max_len=3, max_basket_items=10_000)
    con = duckdb.connect()
    con.register("baskets", baskets.to_arrow())
    found = frequent_itemsets(con, "baskets", config)
    ours = rules(found)
    sets, theirs = _mlxtend(baskets, 0.02, 3)
    assert found.n_baskets == baskets["basket_id"].n_unique() and found.baskets_left_out == 0
    ours_sets = {frozenset(i): s for i, s in zip(found.itemsets["items"].to_list(), found.itemsets["support"], strict=True)}
    their_sets = {frozenset(i): s for i, s in zip(sets["itemsets"], sets["support"], strict=True)}
    assert ours_sets.keys() == their_sets.keys() and len(ours_sets) > 50
    assert max(abs(ours_sets[k] - their_sets[k]) for k in ours_sets) < 1e-9
    assert (found.itemsets["size"] == 3).sum() > 0  # longer itemsets are mined too
    key = lambda a, c: (frozenset(a), frozenset(c))  # noqa: E731
    ours_rules = {key(a, c): (s, conf) for a, c, s, conf in
                  zip(ours["antecedents"], ours["consequents"], ours["support"], ours["confidence"], strict=True)}
    their_rules = {key(a, c): (s, conf) for a, c, s, conf in
                   zip(theirs["antecedents"], theirs["consequents"], theirs["support"], theirs["confidence"], strict=True)}
    assert ours_rules.keys() == their_rules.keys()
    assert max(abs(ours_rules[k][0] - their_rules[k][0]) + abs(ours_rules[k][1] - their_rules[k][1])
               for k in ours_rules) < 1e-9


def test_large_baskets_are_left_out_and_counted(baskets):
    con = duckdb.connect()
    con.register("baskets", baskets.to_arrow())
    found = frequent_itemsets(con, "baskets", RuleConfig(min_support=0.02, max_len=2, max_basket_items=20))
    sizes = baskets.group_by("basket_id").len()
    assert found.baskets_left_out == (sizes["len"] > 20).sum()
    assert found.n_baskets == (sizes["len"] <= 20).sum()


def test_frequently_bought_together_ranks_per_sku(baskets):
    con = duckdb.connect()
    con.register("baskets", baskets.to_arrow())
    table = frequently_bought_together(rules(frequent_itemsets(con, "baskets", RuleConfig(min_support=0.015, max_len=2))),
                                       top_k=3)
    assert table.group_by("sku").len()["len"].max() <= 3
    first = table.filter(pl.col("rank") == 1)
    second = table.filter(pl.col("rank") == 2).join(first, on="sku", suffix="_first")
    assert (second["confidence"] <= second["confidence_first"]).all()


def test_bad_thresholds_are_refused():
    con = duckdb.connect()
    con.register("baskets", pl.DataFrame({"basket_id": ["1"], "item": ["a"]}).to_arrow())
    with pytest.raises(ValueError, match="min_support"):
        frequent_itemsets(con, "baskets", RuleConfig(min_support=0))
