"""The Dagster project: one Definitions with the whole graph, checks, schedule and landing sensor."""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from data.settings import Settings
from pipelines.dbt_manifest import contract_columns, queryable_marts
from pipelines.definitions import build_defs

MARTS = ["dim_customer", "dim_product", "dim_store", "fct_orders", "fct_order_lines", "fct_events", "fct_sessions",
         "fct_funnel_daily", "fct_sales_daily", "fct_inventory_daily", "fct_footfall_hourly"]


@pytest.fixture()
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path)


def test_graph_has_raw_assets_marts_and_checks(settings):
    defs = build_defs(settings)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {f"raw/{t}" for t in ("transactions", "events", "iot_readings", "inventory_movements",
                                 "products", "customers", "stores", "stock_positions")} <= keys
    # committed stock from the commerce API reaches the replenishment plan
    assert dg.AssetKey(["raw", "stock_positions"]) in graph.get(dg.AssetKey(["staging", "stg_stock_positions"])).parent_keys
    assert dg.AssetKey(["staging", "stg_stock_positions"]) in \
        graph.get(dg.AssetKey(["model_outputs", "replenishment_suggestions"])).parent_keys
    assert {f"marts/{m}" for m in MARTS} <= keys
    assert {f"marts/{m}" for m in ("customer_recommendations", "similar_items", "popular_items",
                                   "coupon_recommendations")} <= keys
    # every queryable mart is a dbt model, and every Python output is published by the mart of its name
    marts = {k.path[-1] for k in graph.get_all_asset_keys() if k.path[0] == "marts"}
    assert marts == set(queryable_marts())
    outputs = {k.path[-1] for k in graph.get_all_asset_keys() if k.path[0] == "model_outputs"}
    assert len(outputs) == 13 and outputs <= marts
    for name in outputs:
        assert graph.get(dg.AssetKey(["marts", name])).parent_keys == {dg.AssetKey(["model_outputs", name])}
        assert contract_columns(name)  # typed by an enforced contract, which also defines the empty case
    checks = {c.name for c in graph.asset_check_keys}
    assert {"quarantine_share", "great_expectations"} <= checks
    assert any(name.startswith("unique_fct_orders_order_id") for name in checks)  # dbt tests as checks
    assert "assert_sales_revenue_matches_raw" in checks
    # daily feeds are partitioned, reference snapshots are not
    assert graph.get(dg.AssetKey(["raw", "events"])).partitions_def is not None
    assert graph.get(dg.AssetKey(["raw", "products"])).partitions_def is None
    # marts are grouped by domain
    assert graph.get(dg.AssetKey(["marts", "fct_funnel_daily"])).group_name == "behaviour"
    assert graph.get(dg.AssetKey(["marts", "fct_inventory_daily"])).group_name == "inventory"
    assert {j.name for j in defs.jobs} >= {"refresh", "ingest"}


def test_schedule_loads_yesterday(settings):
    defs = build_defs(settings)
    schedule = defs.resolve_schedule_def("daily_refresh")
    at = datetime(2025, 3, 2, 3, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    context = dg.build_schedule_context(scheduled_execution_time=at)
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.tags["dagster/asset_partition_range_start"] == "2025-03-01"
    assert request.tags["dagster/asset_partition_range_end"] == "2025-03-01"


def test_landing_sensor_picks_up_new_and_rewritten_files(settings, small_landing):
    defs = build_defs(settings)
    sensor = defs.resolve_sensor_def("landing_sensor")
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, cursor=None)
        assert not sensor.evaluate_tick(ctx).run_requests  # nothing landed yet
        shutil.copytree(small_landing, settings.landing)
        result = sensor.evaluate_tick(ctx)
        request = result.run_requests[0]
        assert request.tags["dagster/asset_partition_range_start"] == "2025-01-01"
        assert request.tags["dagster/asset_partition_range_end"] == "2025-04-30"
        ctx = dg.build_sensor_context(instance=instance, cursor=result.cursor)
        assert not sensor.evaluate_tick(ctx).run_requests  # nothing new since
        late = next((settings.landing / "events" / "date=2025-02-03").iterdir())
        time.sleep(0.01)
        os.utime(late)  # the feed of one day re-sent
        request = sensor.evaluate_tick(ctx).run_requests[0]
        assert request.tags["dagster/asset_partition_range_start"] == "2025-02-03"
        assert request.tags["dagster/asset_partition_range_end"] == "2025-02-03"
