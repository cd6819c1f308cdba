"""Demand assets: weekly forecasts per SKU x location (model chosen per demand class by backtest)
and the replenishment plan from them (dbt publishes them as marts, with the forecasts' daily split,
the bottom-up hierarchy and inventory health)."""

import logging

import dagster as dg

from data.settings import Settings
from pipelines import demand, replenishment
from pipelines.assets.outputs import mart_deps, output_results, output_specs, output_tables, tables
from pipelines.skips import skip_message
from pipelines.warehouse import Warehouse
from serving.registry import Registry

progress = logging.getLogger("smartmall")
UPSTREAM = ["fct_sales_daily", "fct_inventory_daily", "dim_store", "dim_product"]
OUTPUTS = {
    "forecasts": "Weekly units per SKU x location for the next SMARTMALL_FORECAST_HORIZON_WEEKS (8) weeks: point "
                 "(the model its demand class won in the backtest), 80 % and 95 % intervals calibrated on the "
                 "backtest, generated_at.",
}


def build_demand_assets(settings: Settings) -> dg.AssetsDefinition:
    @dg.multi_asset(specs=output_specs(OUTPUTS, "demand", mart_deps(UPSTREAM)), name="demand_forecasts")
    def demand_forecasts(context: dg.AssetExecutionContext, warehouse: Warehouse):
        """Backtest every candidate on the last weeks, pick one per demand class, forecast ahead."""
        with warehouse.session(reads=tables(mart_deps(UPSTREAM)), writes=output_tables(OUTPUTS)) as con:
            result = demand.build_forecasts_or_skip(con, Registry(settings.registry),
                                                    settings.forecast_horizon_weeks)
            done = output_results(con, OUTPUTS, result)
        progress.info("  demand forecasts: %s", skip_message(result) or (
            f"{result['series']:,} series x {result['horizon_weeks']} weeks; backtest MASE "
            f"{result['backtest_mase']:.3f} vs best baseline {result['best_baseline']} "
            f"{result['best_baseline_mase']:.3f}"))
        yield from done

    return demand_forecasts


REPLENISHMENT = {
    "replenishment_suggestions": "Per SKU x location: demand of everything it replenishes, safety stock, reorder "
                                 "point, order-up-to level, position (on hand + in transit - committed in the "
                                 "commerce API), what to order from "
                                 "where, and why.",
    "transfer_suggestions": "Store-to-store transfers where a sibling store's excess covers a shortage.",
    "stock_alerts": "Below safety stock, projected stock-out date within two weeks, overstock (over 90 days of cover).",
}

REPLENISHMENT_UPSTREAM = ["model_outputs/forecasts", "fct_inventory_daily", "dim_store", "dim_product",
                          "staging/stg_inventory_movements", "staging/stg_stock_positions"]


def build_replenishment_assets(settings: Settings) -> dg.AssetsDefinition:
    @dg.multi_asset(specs=output_specs(REPLENISHMENT, "demand", mart_deps(REPLENISHMENT_UPSTREAM)),
                    name="replenishment")
    def replenishment_plan(context: dg.AssetExecutionContext, warehouse: Warehouse):
        """Safety stock, reorder points and order suggestions from the forecasts; the policy
        backtested against reordering last week's sales."""
        with warehouse.session(reads=tables(mart_deps(REPLENISHMENT_UPSTREAM)),
                               writes=output_tables(REPLENISHMENT)) as con:
            result = replenishment.build_replenishment_or_skip(con, Registry(settings.registry),
                                                                 settings.supplier_lead_days)
            done = output_results(con, REPLENISHMENT, result)
        policy = result.get("policy_backtest", {})
        progress.info("  replenishment: %s", skip_message(result) or (
            f"{result['to_order']:,} SKU x locations to order, {result['store_transfers']:,} store transfers, "
            f"{result['alerts']:,} alerts; " + (
                f"policy backtest {skip_message(policy)}" if "skipped" in policy else
                f"policy backtest fill rate {policy['order_up_to']['fill_rate']} vs "
                f"{policy['last_week']['fill_rate']} for reordering last week's sales")))
        yield from done

    return replenishment_plan
