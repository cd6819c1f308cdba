"""Customer intelligence assets: RFM, lifetime value and churn risk (dbt publishes them as marts,
with the win-back list, the tags and the 360-degree profile built over them)."""

import logging

import dagster as dg

from data.settings import Settings
from models.churn import ChurnConfig
from pipelines import customer
from pipelines.assets.outputs import mart_deps, output_results, output_specs, output_tables, tables
from pipelines.skips import skip_message
from pipelines.warehouse import Warehouse
from serving.registry import Registry

progress = logging.getLogger("smartmall")
UPSTREAM = ["fct_order_lines", "fct_orders", "fct_sessions", "dim_customer", "dim_product"]
OUTPUTS = {
    "customer_rfm": "RFM scores and segment per customer and monthly as-of date.",
    "customer_value": "BG/NBD expected purchases (90/180/365 d), P(alive), Gamma-Gamma spend and CLV.",
    "customer_churn_risk": "Calibrated P(no purchase in the horizon) per customer, with a risk band.",
}


def build_customer_assets(settings: Settings) -> dg.AssetsDefinition:
    @dg.multi_asset(specs=output_specs(OUTPUTS, "customer", mart_deps(UPSTREAM)), name="customer_models")
    def customer_models(context: dg.AssetExecutionContext, warehouse: Warehouse):
        """Train and score the customer models on the marts; every run goes to the model registry."""
        registry = Registry(settings.registry)
        config = ChurnConfig(horizon_days=settings.churn_horizon_days)
        with warehouse.session(reads=tables(mart_deps(UPSTREAM)), writes=output_tables(OUTPUTS)) as con:
            results = customer.run_customer_block(con, registry, config, rfm_snapshots=settings.rfm_snapshots)
            done = output_results(con, OUTPUTS, results)
        churn, value, rfm = results["customer_churn_risk"], results["customer_value"], results["customer_rfm"]
        progress.info("  customer models: %s; churn: %s; CLV: %s",
                      skip_message(rfm) or f"{rfm['customers']:,} customers in RFM segments",
                      skip_message(churn) or f"backtest ROC AUC {churn['backtest_roc_auc']:.3f} vs best baseline "
                      f"{churn['best_baseline']} {churn['best_baseline_roc_auc']:.3f}",
                      skip_message(value) or f"holdout MAE {value['mae_purchases']:.3f} purchases vs "
                      f"{value['baseline_rate_mae']:.3f} for the past-rate baseline")
        yield from done

    return customer_models
