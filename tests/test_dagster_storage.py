"""The Dagster instance smartmall writes: its dagster.yaml and the faster SQLite event log."""

import dagster as dg
import pytest

from pipelines.dagster_storage import FastSqliteEventLogStorage
from pipelines.environment import DAGSTER_YAML_MARK, dagster_yaml

DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-01-04"),
          backfill_policy=dg.BackfillPolicy.single_run())
def daily_feed(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


def _instance(home):
    (home / "dagster.yaml").write_text(dagster_yaml(home))
    return dg.DagsterInstance.from_config(str(home))


def _backfill(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = dg.Definitions(assets=[daily_feed]).resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, tags={
        "dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]})


def test_partitioned_backfill_is_recorded_and_read_back_by_a_new_instance(tmp_path):
    with _instance(tmp_path) as instance:
        assert isinstance(instance.event_log_storage, FastSqliteEventLogStorage)
        result = _backfill(instance)
        assert result.success
    # another process (dagster dev, the sensor daemon) opens the same files with the stock reader
    with dg.DagsterInstance.from_config(str(tmp_path)) as reader:
        key = dg.AssetKey("daily_feed")
        assert reader.get_materialized_partitions(key) == set(DAYS)
        record = reader.fetch_materializations(key, limit=10).records
        assert len(record) == len(DAYS)
        assert reader.get_run_by_id(result.run_id).is_success
        # the run's own shard holds every event of it, in order
        events = reader.all_logs(result.run_id)
        types = [e.dagster_event.event_type_value for e in events if e.dagster_event]
        assert types[0] == "ASSET_MATERIALIZATION_PLANNED" and types[-1] == "PIPELINE_SUCCESS"
        assert types.count("ASSET_MATERIALIZATION") == len(DAYS)


def test_wipe_then_write_again(tmp_path):
    with _instance(tmp_path) as instance:
        _backfill(instance)
        instance.wipe()  # deletes the run files: cached connections must not outlive them
        assert instance.get_materialized_partitions(dg.AssetKey("daily_feed")) == set()
        assert _backfill(instance).success
        assert instance.get_materialized_partitions(dg.AssetKey("daily_feed")) == set(DAYS)


@pytest.mark.parametrize("own", [True, False])
def test_prepare_environment_keeps_a_dagster_yaml_it_did_not_write(tmp_path, monkeypatch, own):
    from data.settings import Settings
    from pipelines.environment import prepare_environment

    settings = Settings(home=tmp_path)
    config = settings.dagster_home / "dagster.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"{DAGSTER_YAML_MARK} an older version\n" if own else "telemetry:\n  enabled: false\n")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    prepare_environment(settings)
    text = config.read_text()
    assert ("FastSqliteEventLogStorage" in text) is own
