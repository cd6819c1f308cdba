"""Hypothesis over ``POST /events`` batches: any JSON a client can send, valid events mixed with
junk of every type. Whatever comes, intake answers for every event once, never raises, keeps every
good event, and lands only events the pipelines' own contract accepts (no quarantine later)."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commerce_api.events import COLUMNS, intake
from data.contract import CHANNELS, EVENT_NAMES, EVENTS

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                         st.text(max_size=30))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
timestamps = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2026, 1, 1))
# printable, no whitespace or control characters (those an id may not have)
ids = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF, exclude_categories=("Cc", "Cs", "Z")),
              min_size=1, max_size=40)


@st.composite
def valid_events(draw) -> dict:
    event = {"event_id": draw(ids), "event": draw(st.sampled_from(EVENT_NAMES)),
             "occurred_at": draw(timestamps).isoformat() + draw(st.sampled_from(["", "Z", "+08:00"]))}
    event[draw(st.sampled_from(["anonymous_id", "user_id"]))] = draw(ids)
    if draw(st.booleans()):
        event["channel"] = draw(st.sampled_from(CHANNELS))
    if draw(st.booleans()):
        event["revenue"] = draw(st.one_of(st.integers(-10**6, 10**6),
                                          st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 2)),
                                          st.decimals(-10**6, 10**6, places=2, allow_nan=False).map(str)))
    for name in ("sku", "session_id", "device", "query", "list_id", "order_id", "coupon_code", "promotion_id"):
        if draw(st.integers(0, 3)) == 0:
            event[name] = draw(ids)
    return event


@st.composite
def broken_events(draw) -> object:
    """A valid event with some fields replaced by any JSON at all, or an unknown field, or not an object."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    event = draw(valid_events())
    for name in draw(st.lists(st.sampled_from([*COLUMNS, "extra"]), min_size=1, max_size=3)):
        event[name] = draw(json_values)
    return event


def _contract_violations(files: list[str]) -> list[tuple[str, int]]:
    """Rows the pipelines' ingestion would quarantine, per rule (catalogue lookups aside: no catalogue here)."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW landed AS SELECT * FROM read_parquet({files!r})")
    out = []
    for rule in EVENTS.rules:
        if "known_" in rule.violation:
            continue
        n = con.execute(f"SELECT count(*) FROM landed WHERE {rule.violation}").fetchall()[0][0]
        if n:
            out.append((rule.name, n))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(batch=st.lists(st.one_of(valid_events(), broken_events()), max_size=15))
def test_every_event_is_answered_once_and_only_contract_valid_events_land(batch):
    with tempfile.TemporaryDirectory() as landing:
        result = intake(Path(landing), batch)
        rejected = {e["index"] for e in result["errors"]}
        assert result["accepted"] + result["rejected"] == len(batch)
        assert len(rejected) == len(result["errors"]) == result["rejected"]
        assert all(e["errors"] for e in result["errors"])
        landed_ids = sorted(r[0] for r in duckdb.sql(f"SELECT event_id FROM read_parquet({result['files']!r})"
                                                     ).fetchall()) if result["files"] else []
        accepted = sorted(batch[i]["event_id"] for i in range(len(batch)) if i not in rejected)
        assert landed_ids == accepted  # nothing lost, nothing extra
        if result["files"]:
            assert _contract_violations(result["files"]) == []


@settings(max_examples=100, deadline=None, database=None)
@given(batch=st.lists(valid_events(), max_size=15, unique_by=lambda e: e["event_id"]))
def test_good_events_are_never_rejected(batch):
    with tempfile.TemporaryDirectory() as landing:
        result = intake(Path(landing), batch)
    assert result["rejected"] == 0, result["errors"]
    assert result["accepted"] == len(batch)
