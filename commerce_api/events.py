"""Tracking-event intake: ``POST /events`` validates a batch of Segment e-commerce events, answers
per event, and appends the good ones to the landing zone the pipelines ingest
(``<landing>/events/date=YYYY-MM-DD/api-<batch>.parquet``, one file per feed day per batch).

The contract is the pipelines' own (``data.contract.EVENTS``): the same column names, event
names and channels, so what the API accepts is what ingestion accepts. Values travel as text, as
on every other wire into the platform.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from data.contract import CHANNELS, EVENT_NAMES, EVENTS

COLUMNS = EVENTS.column_names
MAX_BATCH = 1000


def _problems(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["an event is a JSON object"]
    out = []
    unknown = sorted(set(event) - set(COLUMNS))
    if unknown:
        out.append(f"unknown field(s): {', '.join(unknown)}")
    for name in ("event_id", "event", "occurred_at"):
        if not str(event.get(name) or "").strip():
            out.append(f"{name} is required")
    if not str(event.get("anonymous_id") or "").strip() and not str(event.get("user_id") or "").strip():
        out.append("anonymous_id or user_id is required")
    if event.get("event") and event["event"] not in EVENT_NAMES:
        out.append(f"event {event['event']!r} is not a Segment e-commerce event")
    if event.get("channel") is not None and event["channel"] not in CHANNELS:
        out.append(f"channel {event['channel']!r} is not a known channel")
    if event.get("occurred_at"):
        try:
            datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00"))
        except ValueError:
            out.append("occurred_at is not an ISO 8601 timestamp")
    if event.get("revenue") is not None:
        try:
            float(event["revenue"])
        except (TypeError, ValueError):
            out.append("revenue is not a number")
    return out


def _day(event: dict) -> str:
    return datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00")).date().isoformat()


def intake(landing: Path, batch: Any) -> dict:
    """Validate ``batch`` (a list of events); write the good ones; report each bad one with its index."""
    if not isinstance(batch, list):
        return {"accepted": 0, "rejected": 0, "errors": [{"index": None, "errors": ["the body is a JSON list"]}]}
    if len(batch) > MAX_BATCH:
        return {"accepted": 0, "rejected": len(batch),
                "errors": [{"index": None, "errors": [f"at most {MAX_BATCH} events per batch"]}]}
    errors, good, seen = [], [], set()
    for i, event in enumerate(batch):
        problems = _problems(event)
        if not problems and event["event_id"] in seen:
            problems = ["event_id repeated in this batch"]
        if problems:
            errors.append({"index": i, "event_id": event.get("event_id") if isinstance(event, dict) else None,
                           "errors": problems})
        else:
            seen.add(event["event_id"])
            good.append(event)
    batch_id = uuid.uuid4().hex[:12]
    files = []
    by_day: dict[str, list[dict]] = {}
    for event in good:
        by_day.setdefault(_day(event), []).append(event)
    for day, events in sorted(by_day.items()):
        folder = landing / "events" / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.table({c: pa.array([None if e.get(c) is None else str(e[c]) for e in events], pa.string())
                          for c in COLUMNS})
        tmp = folder / f".api-{batch_id}.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.rename(folder / f"api-{batch_id}.parquet")  # appears whole, never half-written
        files.append(str(folder / f"api-{batch_id}.parquet"))
    return {"accepted": len(good), "rejected": len(errors), "errors": errors, "batch": batch_id, "files": files}
