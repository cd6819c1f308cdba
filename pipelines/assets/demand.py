"""Demand assets: weekly forecasts per SKU x location (model chosen per demand class by backtest),
their daily split and the bottom-up hierarchy."""

import logging

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines import demand, replenishment
from pipelines.settings import Settings
from pipelines.skips import skip_message
from serving.registry import Registry

progress = logging.getLogger("smartmall")
UPSTREAM = ["fct_sales_daily", "dim_store", "dim_product"]
OUTPUTS = {
    "forecasts": "Weekly units per SKU x location for the next SMARTMALL_FORECAST_HORIZON_WEEKS (8) weeks: point "
                 "(the model its demand class won in the backtest), 80 % and 95 % intervals calibrated on the "
                 "backtest, generated_at.",
    "forecasts_daily": "The weekly forecasts spread over the days by each series' weekday profile.",
    "forecast_hierarchy": "Bottom-up sums of the forecasts by location, region, category, SKU and in total.",
}


def _specs(outputs: dict[str, str], upstream: list[str]) -> list[dg.AssetSpec]:
    """``upstream``: mart names, or ``schema/model`` for another dbt layer."""
    deps = [dg.AssetKey(u.split("/") if "/" in u else ["marts", u]) for u in upstream]
    return [dg.AssetSpec(["marts", name], description=text, group_name="demand", kinds={"duckdb", "python"},
                         deps=deps) for name, text in outputs.items()]


def _materializations(con, outputs: dict[str, str], result: dict):
    """One result per mart written: its row count and the block's figures as metadata."""
    counts = {name: con.execute(f"SELECT count(*) FROM marts.{name}").fetchall()[0][0] for name in outputs}
    meta = {k: dg.MetadataValue.json(v) if isinstance(v, dict) else v for k, v in result.items()}
    return [dg.MaterializeResult(asset_key=["marts", name], metadata={"rows": counts[name], **meta})
            for name in outputs]


def build_demand_assets(settings: Settings) -> dg.AssetsDefinition:
    @dg.multi_asset(specs=_specs(OUTPUTS, UPSTREAM), name="demand_forecasts")
    def demand_forecasts(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
        """Backtest every candidate on the last weeks, pick one per demand class, forecast ahead."""
        with duckdb.get_connection() as con:
            result = demand.build_forecasts_or_skip(con, Registry(settings.registry),
                                                    settings.get("forecast_horizon_weeks"))
            done = _materializations(con, OUTPUTS, result)
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
    "inventory_health": "Per SKU x location over 90 days: turnover days, days of cover, sell-through, stock-out "
                        "days, slow-moving (no outflow in 30 days).",
    "inventory_health_summary": "Turnover days, slow-moving share and stock-out days by location, category and in total.",
}


def build_replenishment_assets(settings: Settings) -> dg.AssetsDefinition:
    @dg.multi_asset(specs=_specs(REPLENISHMENT, ["forecasts", "fct_inventory_daily", "dim_store", "dim_product",
                                                 "staging/stg_inventory_movements", "staging/stg_stock_positions"]),
                    name="replenishment")
    def replenishment_plan(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
        """Safety stock, reorder points and order suggestions from the forecasts; inventory health;
        the policy backtested against reordering last week's sales."""
        with duckdb.get_connection() as con:
            result = replenishment.build_replenishment_or_skip(con, Registry(settings.registry))
            done = _materializations(con, REPLENISHMENT, result)
        policy = result.get("policy_backtest", {})
        progress.info("  replenishment: %s", skip_message(result) or (
            f"{result['to_order']:,} SKU x locations to order, {result['store_transfers']:,} store transfers, "
            f"{result['alerts']:,} alerts; " + (
                f"policy backtest {skip_message(policy)}" if "skipped" in policy else
                f"policy backtest fill rate {policy['order_up_to']['fill_rate']} vs "
                f"{policy['last_week']['fill_rate']} for reordering last week's sales")))
        yield from done

    return replenishment_plan
