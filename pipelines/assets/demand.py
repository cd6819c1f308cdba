"""Demand assets: weekly forecasts per SKU x location (model chosen per demand class by backtest),
their daily split and the bottom-up hierarchy."""

import logging

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines import demand
from pipelines.settings import Settings
from serving.registry import Registry

progress = logging.getLogger("smartmall")
UPSTREAM = ["fct_sales_daily", "dim_store", "dim_product"]
OUTPUTS = {
    "forecasts": "Weekly units per SKU x location for the next 8 weeks: point (the model its demand class won "
                 "in the backtest), 10 % and 90 % quantiles, generated_at.",
    "forecasts_daily": "The weekly forecasts spread over the days by each series' weekday profile.",
    "forecast_hierarchy": "Bottom-up sums of the forecasts by location, region, category, SKU and in total.",
}


def build_demand_assets(settings: Settings) -> dg.AssetsDefinition:
    specs = [dg.AssetSpec(["marts", name], description=text, group_name="demand", kinds={"duckdb", "python"},
                          deps=[dg.AssetKey(["marts", u]) for u in UPSTREAM])
             for name, text in OUTPUTS.items()]

    @dg.multi_asset(specs=specs, name="demand_forecasts")
    def demand_forecasts(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
        """Backtest every candidate on the last weeks, pick one per demand class, forecast ahead."""
        with duckdb.get_connection() as con:
            result = demand.build_forecasts_or_skip(con, Registry(settings.registry))
            counts = {name: con.execute(f"SELECT count(*) FROM marts.{name}").fetchall()[0][0] for name in OUTPUTS}
        progress.info("  demand forecasts: %s", result.get("skipped") or (
            f"{result['series']:,} series x {result['horizon_weeks']} weeks; backtest MASE "
            f"{result['backtest_mase']:.3f} vs best baseline {result['best_baseline']} "
            f"{result['best_baseline_mase']:.3f}"))
        for name in OUTPUTS:
            yield dg.MaterializeResult(asset_key=["marts", name], metadata={
                "rows": counts[name], **{k: dg.MetadataValue.json(v) if isinstance(v, dict) else v
                                         for k, v in result.items()}})

    return demand_forecasts
