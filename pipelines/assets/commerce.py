"""The loop's ingestion asset: what the commerce API records (orders, members, payments, stock,
campaigns, coupons, points), read incrementally."""

import logging

import dagster as dg

from data.settings import Settings
from models.errors import NotEnoughData
from pipelines.commerce_ingest import MIRRORS, TABLES_DDL, commerce_engine, ensure_tables, ingest_commerce
from pipelines.skips import skip_message
from pipelines.warehouse import Warehouse

progress = logging.getLogger("smartmall")
KEYS = {"commerce_orders": "Orders placed through the commerce API, one row per order at its latest status.",
        "commerce_order_lines": "The lines of those orders (units, price charged in minor units, returned units).",
        "commerce_customers": "Members of the commerce API at their latest tier (read by when they last changed).",
        "commerce_payments": "Payments of the commerce API's orders, at their latest status.",
        "commerce_refunds": "Refunds issued by the commerce API.",
        "commerce_returns": "Return and exchange requests, at their latest decision.",
        "commerce_shipments": "Shipments and pickups, at their latest tracking status.",
        "commerce_stock_movements": "The commerce API's stock ledger (receipts, sales, reservations, transfers, ...).",
        "commerce_campaigns": "Campaigns at their latest status.",
        "commerce_campaign_members": "Each launched campaign's audience, in the treatment or the control group.",
        "commerce_coupon_definitions": "Coupon definitions: rule, window, limits.",
        "commerce_coupons": "Coupons handed to members, at their latest status (issued, used).",
        "commerce_order_discounts": "Every discount line of an order (tier, campaign, coupon, points).",
        "commerce_points_ledger": "The points ledger: earnings, redemptions, reversals, expiry."}

RAW_TABLES = [f"raw.{name}" for name in (*TABLES_DDL, *MIRRORS)]


def build_commerce_assets(settings: Settings) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[dg.AssetSpec(["raw", name], description=text, group_name="ingest", kinds={settings.warehouse_kind, "sqlalchemy"})
               for name, text in KEYS.items()],
        name="commerce_ingest",
    )
    def commerce_ingest(context: dg.AssetExecutionContext, warehouse: Warehouse):
        """Read what the commerce database changed since the last run (high-water mark on updated_at + id)."""
        # on ClickHouse the step works on a copy of these tables (with their keys) and writes them back
        with warehouse.session(reads=RAW_TABLES, writes=RAW_TABLES, prepare=ensure_tables) as con:
            ensure_tables(con)
            try:
                report = ingest_commerce(con, commerce_engine(settings.database_url))
            except NotEnoughData as exc:
                report = exc.as_skip()
        progress.info("  commerce API: %s", skip_message(report) or (
            f"{report['orders']:,} new or changed orders ({report['order_lines']:,} lines), "
            f"{report['customers']:,} new or changed members, {report['coupons']:,} coupons, "
            f"{report['order_discounts']:,} discount lines in {report['seconds']:.2f}s"))
        for name in KEYS:
            yield dg.MaterializeResult(asset_key=["raw", name], metadata=report)

    return commerce_ingest
