"""What the pipeline publishes for readers outside it: the marts snapshot the dashboards read."""

import logging

import dagster as dg
from dagster_duckdb import DuckDBResource

from data.settings import Settings
from serving.marts_snapshot import publish

progress = logging.getLogger("smartmall")


def build_snapshot_asset(settings: Settings, marts: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """The snapshot of ``marts`` (every mart asset: it waits for all of them, so a run that failed
    upstream leaves the previous snapshot in place)."""

    @dg.asset(key=["serving", "marts_snapshot"], group_name="serving", kinds={"duckdb"}, deps=marts,
              description="A read-only copy of every mart for the dashboards, replaced whole after each run "
                          "(the warehouse itself allows one writer, which readers must never block).")
    def marts_snapshot(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        with duckdb.get_connection() as con:
            counts = publish(con, settings.marts_snapshot)
        progress.info("  dashboards' snapshot: %d marts, %s rows -> %s", len(counts), f"{sum(counts.values()):,}",
                      settings.marts_snapshot)
        return dg.MaterializeResult(metadata={"path": str(settings.marts_snapshot), "tables": len(counts),
                                              "rows": sum(counts.values())})

    return marts_snapshot
