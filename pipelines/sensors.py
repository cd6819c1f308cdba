"""Sensor that notices files dropped into the landing folder and loads their feed days."""
from __future__ import annotations

import dagster as dg

from data.contract import DAILY_TABLES, TABLES
from data.settings import Settings
from pipelines.ingest import DATE_DIR, landing_batches


def changed_since(settings: Settings, cursor_ns: int) -> tuple[list[str], bool, int]:
    """(feed days with new or rewritten files, whether a reference table changed, newest mtime)."""
    days: set[str] = set()
    reference_changed = False
    newest = cursor_ns
    for table in TABLES.values():
        for files in landing_batches(settings.landing, table).values():
            for f in files:
                mtime = f.stat().st_mtime_ns
                if mtime > cursor_ns:
                    newest = max(newest, mtime)
                    if table.name in DAILY_TABLES:
                        days.add(DATE_DIR.search(f.parent.name).group(1))
                    else:
                        reference_changed = True
    return sorted(days), reference_changed, newest


def build_landing_sensor(job, settings: Settings) -> dg.SensorDefinition:
    # Off until switched on in the UI (its first tick treats every file already landed as new).
    @dg.sensor(job=job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
    def landing_sensor(context: dg.SensorEvaluationContext):
        """New or rewritten landing files -> one run that ingests their feed days and rebuilds the marts."""
        cursor = int(context.cursor or 0)
        days, reference_changed, newest = changed_since(settings, cursor)
        if not days and not reference_changed:
            return dg.SkipReason(f"no new files in {settings.landing}")
        if not days:  # only a catalogue / store / member snapshot changed: reload it with the last day
            landed = settings.landed_days()
            if not landed:
                context.update_cursor(str(newest))
                return dg.SkipReason("reference files changed but no feed day has landed yet")
            days = landed[-1:]
        context.update_cursor(str(newest))
        return dg.RunRequest(
            run_key=f"landing-{newest}",
            tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1],
                  "smartmall/trigger": "landing_sensor"},
        )

    return landing_sensor
