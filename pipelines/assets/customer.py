"""Customer intelligence assets: RFM, lifetime value, churn risk, win-back list, 360-degree profile."""

import logging

import dagster as dg
from dagster_duckdb import DuckDBResource

from models.churn import ChurnConfig
from pipelines import customer
from pipelines.settings import Settings
from pipelines.skips import skip_message
from serving.registry import Registry

progress = logging.getLogger("smartmall")
UPSTREAM = ["fct_order_lines", "fct_orders", "fct_sessions", "dim_customer", "dim_product"]
OUTPUTS = {
    "customer_rfm": "RFM scores and segment per customer and monthly as-of date.",
    "customer_value": "BG/NBD expected purchases (90/180/365 d), P(alive), Gamma-Gamma spend and CLV.",
    "customer_churn_risk": "Calibrated P(no purchase in the horizon) per customer, with a risk band.",
    "winback_list": "Customers at medium/high churn risk ranked by churn probability x 365-day value.",
    "customer_tags": "Behaviour and transaction tags per member.",
    "customer_profile": "The 360-degree member profile: base data, tier, RFM segment, CLV, churn risk, tags.",
}


def build_customer_assets(settings: Settings) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(["marts", name], description=text, group_name="customer", kinds={"duckdb", "python"},
                     deps=[dg.AssetKey(["marts", u]) for u in UPSTREAM])
        for name, text in OUTPUTS.items()
    ]

    @dg.multi_asset(specs=specs, name="customer_models")
    def customer_models(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
        """Train and score the customer models on the marts; every run goes to the model registry."""
        registry = Registry(settings.registry)
        config = ChurnConfig(horizon_days=settings.churn_horizon_days)
        with duckdb.get_connection() as con:
            results = customer.run_customer_block(con, registry, config)
            counts = {name: con.execute(f"SELECT count(*) FROM marts.{name}").fetchone()[0] for name in OUTPUTS}
        churn, value = results["customer_churn_risk"], results["customer_value"]
        progress.info("  customer models: %s members profiled; churn: %s; CLV: %s", f"{counts['customer_profile']:,}",
                      skip_message(churn) or f"backtest ROC AUC {churn['backtest_roc_auc']:.3f} vs best baseline "
                      f"{churn['best_baseline']} {churn['best_baseline_roc_auc']:.3f}",
                      skip_message(value) or f"holdout MAE {value['mae_purchases']:.3f} purchases vs "
                      f"{value['baseline_rate_mae']:.3f} for the past-rate baseline")
        for name in OUTPUTS:
            detail = results.get(name, {})
            yield dg.MaterializeResult(
                asset_key=["marts", name],
                metadata={"rows": counts[name], **{k: dg.MetadataValue.json(v) if isinstance(v, dict) else v
                                                   for k, v in detail.items()}},
            )

    return customer_models
