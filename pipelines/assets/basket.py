"""Basket analysis assets: association rules and frequently-bought-together, mined in DuckDB."""

import logging

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from models.association import RuleConfig, frequent_itemsets, frequently_bought_together, rules
from models.errors import NotEnoughData
from pipelines.marts import write_empty, write_mart
from pipelines.settings import load_settings
from pipelines.skips import skip_message

progress = logging.getLogger("smartmall")
# Written, empty, when there are no baskets to mine.
EMPTY = {
    "association_rules": "antecedents VARCHAR[], consequents VARCHAR[], antecedent_support DOUBLE, "
                         "consequent_support DOUBLE, support DOUBLE, confidence DOUBLE, lift DOUBLE, leverage DOUBLE, "
                         "conviction DOUBLE, n_baskets INTEGER, min_support DOUBLE",
    "frequently_bought_together": "sku VARCHAR, other_sku VARCHAR, confidence DOUBLE, lift DOUBLE, support DOUBLE, "
                                  "rank BIGINT",
}


def rule_config() -> RuleConfig:
    """Thresholds from the settings (SMARTMALL_RULES_MIN_SUPPORT, _MAX_LEN, _MAX_BASKET_ITEMS)."""
    settings = load_settings()
    return RuleConfig(min_support=settings.get("rules_min_support"), max_len=settings.get("rules_max_len"),
                      max_basket_items=settings.get("rules_max_basket_items"))


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["marts", "association_rules"], group_name="basket", kinds={"duckdb"},
                     description="Rules A -> C over order baskets: support, confidence, lift, leverage, conviction.",
                     deps=[dg.AssetKey(["marts", "fct_order_lines"])]),
        dg.AssetSpec(["marts", "frequently_bought_together"], group_name="basket", kinds={"duckdb"},
                     description="Top 10 companions per SKU (single-item rules by confidence, then lift).",
                     deps=[dg.AssetKey(["marts", "fct_order_lines"])]),
    ],
    name="basket_rules",
)
def basket_rules(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    """Frequent itemsets (pairs in one SQL self-join, longer ones level by level) and their rules."""
    config = rule_config()
    with duckdb.get_connection() as con:
        con.execute("""CREATE OR REPLACE TEMP VIEW order_baskets AS
            SELECT order_id AS basket_id, sku AS item FROM marts.fct_order_lines WHERE quantity > 0""")
        try:
            found = frequent_itemsets(con, "order_baskets", config)
        except NotEnoughData as exc:
            write_empty(con, EMPTY)
            progress.info("  basket rules: %s", skip_message(exc.as_skip()))
            for name in EMPTY:
                yield dg.MaterializeResult(asset_key=["marts", name], metadata={"rows": 0, **exc.as_skip()})
            return
        table = rules(found).with_columns(n_baskets=pl.lit(found.n_baskets), min_support=pl.lit(config.min_support))
        together = frequently_bought_together(table)
        for name, frame in (("association_rules", table), ("frequently_bought_together", together)):
            write_mart(con, name, frame)
    progress.info("  basket rules: %s baskets (%s above %s items left out), %s frequent itemsets, %s rules",
                  f"{found.n_baskets:,}", f"{found.baskets_left_out:,}", config.max_basket_items,
                  f"{len(found.itemsets):,}", f"{len(table):,}")
    meta = {"baskets": found.n_baskets, "baskets_left_out": found.baskets_left_out,
            "min_support": config.min_support, "max_len": config.max_len, "itemsets": len(found.itemsets)}
    yield dg.MaterializeResult(asset_key=["marts", "association_rules"], metadata={**meta, "rows": len(table)})
    yield dg.MaterializeResult(asset_key=["marts", "frequently_bought_together"],
                               metadata={**meta, "rows": len(together)})
