"""Recommendation assets: personalised top-N per customer, similar items, popular items for cold start,
and coupon targeting."""

import logging

import dagster as dg

from data.settings import Settings
from pipelines import coupons, recommend
from pipelines.assets.outputs import (
    mart_deps,
    metadata,
    output_key,
    output_results,
    output_specs,
    output_tables,
    tables,
)
from pipelines.marts import output_rows
from pipelines.skips import skip_message
from pipelines.warehouse import Warehouse
from serving.registry import Registry

progress = logging.getLogger("smartmall")
UPSTREAM = ["fct_order_lines", "fct_events", "dim_product", "dim_customer"]
OUTPUTS = {
    "customer_recommendations": "Top 50 SKUs per active customer in two variants, 'repeat' (re-buying allowed) and "
                                "'new' (items the customer never bought), from the model that won the backtest "
                                "(scored_with).",
    "similar_items": "Top 20 similar SKUs per SKU (item-kNN on BM25-weighted purchases and browsing).",
    "popular_items": "Cold start: most bought SKUs of the last 28 days by region x category (and 'all').",
}


def build_recommendation_assets(settings: Settings) -> dg.AssetsDefinition:
    @dg.multi_asset(specs=output_specs(OUTPUTS, "recommend", mart_deps(UPSTREAM)), name="recommendations")
    def recommendations(context: dg.AssetExecutionContext, warehouse: Warehouse):
        """Backtest the re-ranker against its baselines, then train on all history and score."""
        with warehouse.session(reads=tables(mart_deps(UPSTREAM)), writes=output_tables(OUTPUTS)) as con:
            result = recommend.build_recommendations_or_skip(con, Registry(settings.registry),
                                                             recommend.RecommendSettings.of(settings))
            done = output_results(con, OUTPUTS, result)
        progress.info("  recommendations: %s", skip_message(result) or (
            f"{result['customers']:,} customers; backtest NDCG@10 "
            + ", ".join(f"{v} {result['ndcg'][v]:.3f} ({result['ndcg_ratio'][v]:.2f}x {result['best_baseline'][v][0]})"
                        for v in result["ndcg"])
            + f"; served: {', '.join(f'{v}={m}' for v, m in result['served'].items())}")
            )
        yield from done

    return recommendations

COUPON_UPSTREAM = ["fct_order_lines", "dim_product", "model_outputs/customer_recommendations",
                   "model_outputs/customer_rfm"]


def build_coupon_assets(settings: Settings) -> dg.AssetsDefinition:
    @dg.asset(key=output_key("coupon_recommendations"), group_name="recommend", kinds={"python"},
              deps=mart_deps(COUPON_UPSTREAM),
              description="Active members ranked by P(redeem) of the next member coupon, with the coupon they take up "
                          "most, the category of their top recommendation, RFM segment and a send flag (top 20 %).")
    def coupon_recommendations(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        """Learn who redeems from the monthly member coupons, backtest on the last month, rank today's members."""
        with warehouse.session(reads=tables(mart_deps(COUPON_UPSTREAM)),
                               writes=output_tables(["coupon_recommendations"])) as con:
            result = coupons.build_coupon_recommendations_or_skip(con, Registry(settings.registry),
                                                                  settings.coupon_send_share)
            rows = output_rows(con, "coupon_recommendations")
        progress.info("  coupon targeting: %s", skip_message(result) or (
            f"{result['members']:,} members, {result['sent']:,} to send; backtest ROC AUC {result['backtest_roc_auc']:.3f}"
            f" vs {result['best_baseline_roc_auc']:.3f}; redemption rate of the top 20 % "
            f"{result['top_share_redemption_rate']:.1%} vs {result['everyone_redemption_rate']:.1%} sending to all"))
        return dg.MaterializeResult(metadata={"rows": rows, **metadata(result)})

    return coupon_recommendations
