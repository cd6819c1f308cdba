"""Ingestion assets: one per raw table. Daily tables are partitioned by feed day."""


import logging

import dagster as dg

from data.contract import DAILY_TABLES, REFERENCE_TABLES, TABLES
from data.settings import Settings
from pipelines.ingest import IngestError
from pipelines.quality import validate_accepted
from pipelines.warehouse import Warehouse

progress = logging.getLogger("smartmall")
# Above this share of quarantined records a batch is flagged (the good records still load).
QUARANTINE_WARN_SHARE = 0.05


def _raw_asset(table_name: str, partitions_def: dg.PartitionsDefinition | None, settings: Settings) -> dg.AssetsDefinition:
    table = TABLES[table_name]
    deps = [dg.AssetKey(["raw", t]) for t in table.references]

    @dg.asset(
        key=["raw", table_name],
        group_name="ingest",
        description=f"{table.description} Landing files -> raw.{table_name}; bad records -> raw.quarantine.",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions_def else None,
        deps=deps,
        kinds={settings.warehouse_kind, "parquet"},
        # a failed suite means a bad record got past routing: the load is kept (and can be inspected),
        # the check fails and nothing downstream builds on it
        check_specs=[dg.AssetCheckSpec("quarantine_share", asset=["raw", table_name]),
                     dg.AssetCheckSpec("great_expectations", asset=["raw", table_name], blocking=True,
                                       description="The table's great-expectations checkpoint (gx/, from "
                                                   "data/contract.py) on the rows this run accepted")],
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: Warehouse):
        batches = context.partition_keys if partitions_def else None
        limit = settings.max_line_quantity
        try:
            report, suite = warehouse.ingest(
                table_name, settings.landing, batches, limit,
                validate=lambda con, loaded: validate_accepted(con, table_name, loaded, settings.home, limit),
                retention_days=settings.events_retention_days,
                fallback_encoding=settings.csv_encoding_fallback)
        except IngestError as exc:
            raise dg.Failure(description=str(exc)) from exc
        for change in report.schema_changes:
            progress.info("  schema: %s", change)
        for reason in report.refused_files:
            progress.warning("  not loaded (quarantined): %s/%s", table_name, reason)
        share = report.quarantined / report.rows_in if report.rows_in else 0.0
        progress.info(
            "  ingested %-20s %10s rows in, %10s accepted, %7s quarantined (%.0f rows/s)",
            table_name, f"{report.rows_in:,}", f"{report.accepted:,}", f"{report.quarantined:,}",
            report.rows_in / report.seconds if report.seconds else 0,
        )
        yield dg.MaterializeResult(
            metadata={
                "rows_in": report.rows_in,
                "accepted": report.accepted,
                "quarantined": report.quarantined,
                "quarantined_by_rule": dg.MetadataValue.json(report.quarantined_by_rule),
                "batches": report.batches,
                "files": report.files,
                "seconds": report.seconds,
                "schema_changes": dg.MetadataValue.json(report.schema_changes),
                **suite.as_metadata(),
            }
        )
        yield dg.AssetCheckResult(
            check_name="quarantine_share",
            passed=share <= QUARANTINE_WARN_SHARE,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"share": round(share, 5), "threshold": QUARANTINE_WARN_SHARE},
        )
        yield dg.AssetCheckResult(check_name="great_expectations", passed=suite.success,
                                  severity=dg.AssetCheckSeverity.ERROR, metadata=suite.as_metadata(),
                                  description=None if suite.success else
                                  f"raw.{table_name}: accepted rows fail the contract suite: {', '.join(suite.failed)}")

    return _ingest


def build_raw_assets(daily: dg.PartitionsDefinition, settings: Settings) -> list[dg.AssetsDefinition]:
    """One ingestion asset per raw table, reading ``settings.landing``."""
    return [_raw_asset(t, None, settings) for t in REFERENCE_TABLES] + [
        _raw_asset(t, daily, settings) for t in DAILY_TABLES
    ]
