"""The one Dagster ``Definitions`` of smartmall: ``dagster dev -m pipelines.definitions``.

``build_defs(settings)`` builds it for one environment (landing folder + warehouse); the module
attribute ``defs`` is the one for ``$SMARTMALL_HOME``.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg
from dagster_dbt import DbtCliResource

from data.settings import Settings, load_settings
from pipelines.environment import prepare_environment
from pipelines.warehouse import dbt_executable, warehouse_resource

# single-run backfills of daily partitions are marked beta; they are what ingesting a range of days needs
warnings.filterwarnings("ignore", category=dg.BetaWarning)
MARKETING_MODELS = [dg.AssetKey(["staging", name]) for name in (
    "stg_commerce_campaigns", "stg_commerce_campaign_members", "stg_commerce_coupons",
    "stg_commerce_order_discounts")] + [dg.AssetKey(["marts", "campaign_performance"])]


def build_defs(settings: Settings) -> dg.Definitions:
    prepare_environment(settings)
    from pipelines.assets.basket import build_basket_assets
    from pipelines.assets.commerce import KEYS as COMMERCE_KEYS
    from pipelines.assets.commerce import build_commerce_assets
    from pipelines.assets.customer import build_customer_assets
    from pipelines.assets.dbt import (  # parses dbt if needed
        dbt_project,
        smartmall_dbt,
        smartmall_dbt_published,
    )
    from pipelines.assets.demand import build_demand_assets, build_replenishment_assets
    from pipelines.assets.model_checks import build_model_checks
    from pipelines.assets.raw import build_raw_assets
    from pipelines.assets.recommend import build_coupon_assets, build_recommendation_assets
    from pipelines.assets.serving import build_publish_asset, build_snapshot_asset
    from pipelines.sensors import build_landing_sensor

    daily_partitions = dg.DailyPartitionsDefinition(start_date=settings.first_feed_day())
    refresh_job = dg.define_asset_job(
        "refresh",
        selection=dg.AssetSelection.all(),
        description="Ingest the selected feed days, build every dbt model and run its tests, then train and "
        "score the customer models, mine the basket rules, forecast demand, train the recommenders and target coupons.",
    )
    ingest_job = dg.define_asset_job("ingest", selection=dg.AssetSelection.groups("ingest"))
    # the commerce API's orders and members, read every hour (the nightly refresh builds the marts on them)
    commerce_job = dg.define_asset_job("commerce", selection=dg.AssetSelection.assets(
        *(dg.AssetKey(["raw", name]) for name in COMMERCE_KEYS)))
    # what a campaign did, as soon as the API has recorded it: the loop's read and the marketing mart
    marketing_job = dg.define_asset_job("marketing", selection=dg.AssetSelection.assets(
        *(dg.AssetKey(["raw", name]) for name in COMMERCE_KEYS), *MARKETING_MODELS))
    commerce_hourly = dg.ScheduleDefinition(job=commerce_job, cron_schedule="0 * * * *",
                                            execution_timezone="Asia/Shanghai")

    @dg.schedule(cron_schedule="0 3 * * *", job=refresh_job, execution_timezone="Asia/Shanghai")
    def daily_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """Every night: load yesterday's feeds and rebuild the marts."""
        yesterday = (context.scheduled_execution_time - timedelta(days=1)).strftime("%Y-%m-%d")
        return dg.RunRequest(
            run_key=f"daily-{yesterday}",
            tags={"dagster/asset_partition_range_start": yesterday, "dagster/asset_partition_range_end": yesterday},
        )

    assets = [*build_raw_assets(daily_partitions, settings), build_commerce_assets(settings), smartmall_dbt, smartmall_dbt_published,
              build_customer_assets(settings),
              build_basket_assets(settings), build_demand_assets(settings), build_replenishment_assets(settings),
              build_recommendation_assets(settings), build_coupon_assets(settings)]
    marts = sorted({key for a in assets for key in a.keys if key.path[0] == "marts"}, key=lambda k: k.path)
    return dg.Definitions(
        assets=[*assets, build_snapshot_asset(settings, marts), build_publish_asset(settings, marts)],
        asset_checks=build_model_checks(),
        jobs=[refresh_job, ingest_job, commerce_job, marketing_job],
        schedules=[daily_refresh, commerce_hourly],
        sensors=[build_landing_sensor(refresh_job, settings)],
        # picked by SMARTMALL_WAREHOUSE (dbt's profile target too, pipelines.environment)
        resources={
            "warehouse": warehouse_resource(settings),
            "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        },
        # every asset writes the one DuckDB file, which allows a single writer (and the embedded ClickHouse
        # engine one process): run steps in process
        executor=dg.in_process_executor,
    )


defs = build_defs(load_settings())
