"""What the pipeline publishes for readers outside it: the marts snapshot the dashboards read, and
the versioned snapshot of what the models know that the commerce API serves."""

import logging

import dagster as dg

from data.settings import Settings
from pipelines.warehouse import Warehouse
from serving import published
from serving.marts_snapshot import publish

progress = logging.getLogger("smartmall")


def build_snapshot_asset(settings: Settings, marts: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """The snapshot of ``marts`` (every mart asset: it waits for all of them, so a run that failed
    upstream leaves the previous snapshot in place)."""

    @dg.asset(key=["serving", "marts_snapshot"], group_name="serving", kinds={"duckdb"}, deps=marts,
              description="A read-only copy of every mart for the dashboards, replaced whole after each run "
                          "(the warehouse itself allows one writer, which readers must never block; on "
                          "ClickHouse it is copied from there).")
    def marts_snapshot(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        with warehouse.session(reads=[".".join(key.path) for key in marts]) as con:
            counts = publish(con, settings.marts_snapshot)
        progress.info("  dashboards' snapshot: %d marts, %s rows -> %s", len(counts), f"{sum(counts.values()):,}",
                      settings.marts_snapshot)
        return dg.MaterializeResult(metadata={"path": str(settings.marts_snapshot), "tables": len(counts),
                                              "rows": sum(counts.values())})

    return marts_snapshot


def build_publish_asset(settings: Settings, marts: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """The versioned serving snapshot (``serving.published``), after every mart; a version that
    fails its checks is kept but not served, and its asset check fails with the reasons."""

    @dg.asset(key=["serving", "published"], group_name="serving", kinds={"parquet"}, deps=marts,
              check_specs=[dg.AssetCheckSpec("accepted", asset=["serving", "published"],
                                             description="the new version passed its checks and is live: not "
                                                         "empty, rows within the allowed swing, same columns, "
                                                         "known SKUs")],
              description="One versioned snapshot of what the models know for the commerce API: recommendations, "
                          "similar and bought-together items, popular items, coupon picks, member profiles, "
                          "forecasts and replenishment. Goes live only when its checks pass.")
    def published_snapshot(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        with warehouse.session(reads=published.MARTS_READ) as con:
            frames = published.frames_from_warehouse(con)
            known = {r[0] for r in con.execute("SELECT sku FROM marts.dim_product").fetchall()}
        outcome = published.publish(settings.published_dir, frames, known, settings.serving_max_row_change,
                                    settings.serving_keep_versions)
        (progress.info if outcome.live else progress.warning)("  serving: %s", outcome.describe())
        version = outcome.version
        return dg.MaterializeResult(
            metadata={"version": version.number, "live": outcome.live,
                      "live_version": published.current_number(settings.published_dir),
                      "rows": sum(version.rows.values()), "path": str(version.folder),
                      **{f"rows_{name}": n for name, n in version.rows.items()}},
            check_results=[dg.AssetCheckResult(check_name="accepted", passed=outcome.live,
                                               severity=dg.AssetCheckSeverity.WARN,
                                               metadata={"problems": "; ".join(version.problems) or "none"})])

    return published_snapshot
