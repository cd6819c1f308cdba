"""The loop's ingestion asset: the commerce API's orders and members, read incrementally."""

import logging

import dagster as dg
from dagster_duckdb import DuckDBResource

from data.settings import Settings
from models.errors import NotEnoughData
from pipelines.commerce_ingest import commerce_engine, ensure_tables, ingest_commerce
from pipelines.skips import skip_message

progress = logging.getLogger("smartmall")
KEYS = {"commerce_orders": "Orders placed through the commerce API, one row per order at its latest status.",
        "commerce_order_lines": "The lines of those orders (units, price charged in minor units, returned units).",
        "commerce_customers": "Members who joined through the commerce API.",
        "commerce_payments": "Payments of the commerce API's orders, at their latest status.",
        "commerce_refunds": "Refunds issued by the commerce API.",
        "commerce_returns": "Return and exchange requests, at their latest decision.",
        "commerce_shipments": "Shipments and pickups, at their latest tracking status.",
        "commerce_stock_movements": "The commerce API's stock ledger (receipts, sales, reservations, transfers, ...)."}


def build_commerce_assets(settings: Settings) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[dg.AssetSpec(["raw", name], description=text, group_name="ingest", kinds={"duckdb", "sqlalchemy"})
               for name, text in KEYS.items()],
        name="commerce_ingest",
    )
    def commerce_ingest(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
        """Read what the commerce database changed since the last run (high-water mark on updated_at + id)."""
        with duckdb.get_connection() as con:
            ensure_tables(con)
            try:
                report = ingest_commerce(con, commerce_engine(settings.database_url))
            except NotEnoughData as exc:
                report = exc.as_skip()
        progress.info("  commerce API: %s", skip_message(report) or (
            f"{report['orders']:,} new or changed orders ({report['order_lines']:,} lines), "
            f"{report['customers']:,} new members in {report['seconds']:.2f}s"))
        for name in KEYS:
            yield dg.MaterializeResult(asset_key=["raw", name], metadata=report)

    return commerce_ingest
