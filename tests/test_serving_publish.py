"""The versioned serving publish (``serving.published``): checks that refuse a bad snapshot, the live
pointer, rollback, and readers that switch versions without a restart."""

from __future__ import annotations

import threading

import polars as pl
import pytest

from serving import published
from serving.live import LiveSnapshot
from tests.commerce_fixtures import serving_frames
from tests.helpers import run_cli

KNOWN = {"MILK-1L", "CASE-BLK", "PHONE-WHT-256", "PHONE-BLK-128"}


def test_a_good_snapshot_goes_live_and_a_reader_switches_to_it_without_a_restart(tmp_path):
    root = tmp_path / "published"
    live = LiveSnapshot(root)
    assert live.get() is None  # before the first publish
    first = published.publish(root, serving_frames(), KNOWN)
    assert first.live and first.version.number == 1 and published.current_number(root) == 1
    served = live.get()
    assert served.version == 1 and served.recommendations.recommend("C1", 2) == ["MILK-1L", "CASE-BLK"]
    frames = serving_frames()
    frames["customer_recommendations"] = frames["customer_recommendations"].with_columns(
        rank=5 - pl.col("rank"))  # the lists reversed
    second = published.publish(root, frames, KNOWN)
    assert second.live and live.get().version == 2
    assert live.get().recommendations.recommend("C1", 2) == ["PHONE-BLK-128", "PHONE-WHT-256"]
    # rollback: the reader follows the pointer back
    published.promote(root, 1)
    assert live.get().version == 1 and live.get().recommendations.recommend("C1", 1) == ["MILK-1L"]


@pytest.mark.parametrize(("change", "reason"), [
    (lambda f: f | {"customer_recommendations": f["customer_recommendations"].clear()},
     "customer_recommendations is empty"),
    (lambda f: f | {"popular_items": pl.concat([f["popular_items"]] * 3)}, "popular_items has 6 rows, +200%"),
    (lambda f: f | {"similar_items": f["similar_items"].with_columns(rank=pl.col("rank").cast(pl.Float64))},
     "similar_items's columns changed: rank Int64 -> Float64"),
    (lambda f: f | {"forecasts": f["forecasts"].with_columns(extra=pl.lit(1))}, "forecasts's columns changed: +extra"),
    (lambda f: f | {"bought_together": f["bought_together"].with_columns(other_sku=pl.lit("GHOST-1"))},
     "bought_together: 1 SKU(s) the catalogue does not know, e.g. GHOST-1"),
])
def test_a_snapshot_that_fails_its_checks_is_refused_and_the_live_one_stays(tmp_path, change, reason):
    root = tmp_path / "published"
    published.publish(root, serving_frames(), KNOWN)
    outcome = published.publish(root, change(serving_frames()), KNOWN, max_row_change=0.5)
    assert not outcome.live and reason in outcome.describe(), outcome.describe()
    assert published.current_number(root) == 1
    kept = {v.number: v for v in published.versions(root)}
    assert not kept[2].accepted and kept[1].accepted  # kept, with its reasons, for a person to look at


def test_the_first_snapshot_may_be_empty_and_a_later_full_one_replaces_it(tmp_path):
    """A run too thin to train publishes empty lists; the next run with data goes live (growth from
    nothing is not a swing). A thin run after that is refused: the shop keeps its lists."""
    root = tmp_path / "published"
    empty = {name: frame.clear() for name, frame in serving_frames().items()}
    assert published.publish(root, empty, KNOWN).live
    assert published.publish(root, serving_frames(), KNOWN).live
    thin = published.publish(root, empty, KNOWN)
    assert not thin.live and published.current_number(root) == 2


def test_only_complete_versions_are_seen_and_old_ones_are_pruned(tmp_path):
    root = tmp_path / "published"
    for _ in range(4):
        published.publish(root, serving_frames(), KNOWN, keep=2)
    assert [v.number for v in published.versions(root)] == [3, 4]
    (root / "versions" / ".5.partial").mkdir()  # a publish killed half-way
    assert [v.number for v in published.versions(root)] == [3, 4]
    with pytest.raises(ValueError, match="no version 1 .*kept: 3, 4"):
        published.promote(root, 1)


def test_readers_never_see_a_mix_while_versions_change(tmp_path):
    """Two versions with different lists, swapped back and forth while readers look up: every
    answer is one version's whole list."""
    root = tmp_path / "published"
    published.publish(root, serving_frames(), KNOWN)
    reversed_frames = serving_frames()
    reversed_frames["customer_recommendations"] = reversed_frames["customer_recommendations"].with_columns(
        rank=5 - pl.col("rank"))
    published.publish(root, reversed_frames, KNOWN)
    answers = {1: ["MILK-1L", "CASE-BLK", "PHONE-WHT-256", "PHONE-BLK-128"]}
    answers[2] = answers[1][::-1]
    live, stop, wrong = LiveSnapshot(root), threading.Event(), []

    def read() -> None:
        while not stop.is_set():
            served = live.get()
            if served.recommendations.recommend("C1", 4) != answers[served.version]:
                wrong.append(served.version)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for i in range(40):
        published.promote(root, 1 + i % 2)
    stop.set()
    for t in readers:
        t.join()
    assert not wrong


def test_the_main_job_publishes_a_version_and_the_cli_lists_and_rolls_back(small_home):
    root = small_home / "serving" / "published"
    live = published.current(root)
    assert live is not None and live.accepted
    assert live.rows["customer_recommendations"] > 0 and live.rows["member_profiles"] > 0
    assert live.rows["forecasts"] > 0 and live.rows["bought_together"] > 0
    out = run_cli(small_home, "serving", "list").stdout
    assert f"{live.number}" in out and "live" in out
    proc = run_cli(small_home, "serving", "rollback", "999", check=False)
    assert proc.returncode != 0 and "no version 999" in proc.stderr and "Traceback" not in proc.stderr
    run_cli(small_home, "serving", "rollback", str(live.number))
    assert published.current_number(root) == live.number
