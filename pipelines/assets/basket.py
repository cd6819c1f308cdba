"""Basket analysis assets: association rules and frequently-bought-together, mined in DuckDB."""

import logging

import dagster as dg
import polars as pl

from data.settings import Settings
from models.association import RuleConfig, frequent_itemsets, frequently_bought_together, rules
from models.errors import NotEnoughData
from pipelines.assets.outputs import mart_deps, output_results, output_specs, output_tables, tables
from pipelines.marts import write_empty, write_mart
from pipelines.skips import skip_message
from pipelines.warehouse import Warehouse

progress = logging.getLogger("smartmall")
UPSTREAM = ["fct_order_lines"]
OUTPUTS = {
    "association_rules": "Rules A -> C over order baskets: support, confidence, lift, leverage, conviction.",
    "frequently_bought_together": "Top 10 companions per SKU (single-item rules by confidence, then lift).",
}


def build_basket_assets(settings: Settings) -> dg.AssetsDefinition:
    """The basket rules, with the thresholds of ``settings`` (rules_min_support, _max_len, _max_basket_items)."""
    config = RuleConfig(min_support=settings.rules_min_support, max_len=settings.rules_max_len,
                        max_basket_items=settings.rules_max_basket_items)

    @dg.multi_asset(
        specs=output_specs(OUTPUTS, "basket", mart_deps(UPSTREAM)),
        name="basket_rules",
    )
    def basket_rules(context: dg.AssetExecutionContext, warehouse: Warehouse):
        """Frequent itemsets (pairs in one SQL self-join, longer ones level by level) and their rules."""
        yield from _mine(warehouse, config)

    return basket_rules


def _mine(warehouse: Warehouse, config: RuleConfig):
    with warehouse.session(reads=tables(mart_deps(UPSTREAM)), writes=output_tables(OUTPUTS)) as con:
        con.execute("""CREATE OR REPLACE TEMP VIEW order_baskets AS
            SELECT order_id AS basket_id, sku AS item FROM marts.fct_order_lines WHERE quantity > 0""")
        try:
            found = frequent_itemsets(con, "order_baskets", config)
        except NotEnoughData as exc:
            write_empty(con, list(OUTPUTS))
            progress.info("  basket rules: %s", skip_message(exc.as_skip()))
            yield from output_results(con, OUTPUTS, exc.as_skip())
            return
        table = rules(found).with_columns(n_baskets=pl.lit(found.n_baskets), min_support=pl.lit(config.min_support))
        together = frequently_bought_together(table)
        for name, frame in (("association_rules", table), ("frequently_bought_together", together)):
            write_mart(con, name, frame)
        meta = {"baskets": found.n_baskets, "baskets_left_out": found.baskets_left_out,
                "min_support": config.min_support, "max_len": config.max_len, "itemsets": len(found.itemsets)}
        done = output_results(con, OUTPUTS, meta)
    progress.info("  basket rules: %s baskets (%s above %s items left out), %s frequent itemsets, %s rules",
                  f"{found.n_baskets:,}", f"{found.baskets_left_out:,}", config.max_basket_items,
                  f"{len(found.itemsets):,}", f"{len(table):,}")
    yield from done
