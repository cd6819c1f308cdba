"""Tracking-event intake: ``POST /events`` validates a batch of Segment e-commerce events, answers
per event, and appends the good ones to the landing zone the pipelines ingest
(``<landing>/events/date=YYYY-MM-DD/api-<batch>.parquet``, one file per feed day per batch).

The contract is the pipelines' own (``data.contract.EVENTS``): the same column names, event
names, channels and catalogue lookup (a SKU the API's catalogue lacks is refused here rather than
quarantined later), so what the API accepts is what ingestion accepts. Values travel as text, as
on every other wire into the platform.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from data.contract import CHANNELS, EVENT_NAMES, EVENTS

COLUMNS = EVENTS.column_names
MAX_BATCH = 1000
MAX_TEXT = 500  # characters in any one field
MAX_REVENUE = 1e12  # an order's revenue beyond this is a unit error upstream, not a sale
EARLIEST = datetime(2000, 1, 1)
FUTURE_SLACK = timedelta(days=1)  # a till's clock may run ahead; a year-9999 timestamp is not a clock
# ISO 8601 as the pipelines' ingestion parses it: a date, optionally a time, optionally an offset
# (Python alone would also take week dates and compact forms that ingestion quarantines)
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:\d{2})?")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DECIMAL = re.compile(r"-?\d{1,15}(\.\d{1,10})?([eE][+-]?\d{1,3})?")  # what every reader parses alike


def _timestamp_problem(value: str) -> str | None:
    if not TIMESTAMP.fullmatch(value):
        return "occurred_at is not an ISO 8601 timestamp (YYYY-MM-DD[THH:MM[:SS[.ffffff]]][Z|+HH:MM])"
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "occurred_at is not a valid date and time"
    naive = at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at
    if not EARLIEST <= naive <= datetime.now(UTC).replace(tzinfo=None) + FUTURE_SLACK:
        return f"occurred_at {value!r} is before {EARLIEST.year} or in the future"
    return None


def _revenue_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return "revenue must be a number"
    if isinstance(value, str) and not DECIMAL.fullmatch(value):
        return "revenue is not a decimal number"
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_REVENUE:
        return f"revenue is not a finite amount within +-{MAX_REVENUE:.0e}"
    return None


def _problems(event: Any) -> list[str]:
    """Why ``event`` cannot land (empty when it can): every field text (``revenue`` may be a number),
    short, without control characters; the contract's required fields, names and channels."""
    if not isinstance(event, dict):
        return ["an event is a JSON object"]
    out = []
    unknown = sorted(set(event) - set(COLUMNS))
    if unknown:
        out.append(f"unknown field(s): {', '.join(unknown)[:200]}")
    for name in COLUMNS:
        value = event.get(name)
        if value is None or name == "revenue":
            continue
        if not isinstance(value, str):
            out.append(f"{name} must be a string")
        elif len(value) > MAX_TEXT:
            out.append(f"{name} is longer than {MAX_TEXT} characters")
        elif CONTROL.search(value):
            out.append(f"{name} contains control characters")
    if out:
        return out
    for name in ("event_id", "event", "occurred_at"):
        if not (event.get(name) or "").strip():
            out.append(f"{name} is required")
    if not (event.get("anonymous_id") or "").strip() and not (event.get("user_id") or "").strip():
        out.append("anonymous_id or user_id is required")
    if event.get("event") and event["event"] not in EVENT_NAMES:
        out.append(f"event {event['event']!r} is not a Segment e-commerce event")
    if event.get("channel") is not None and event["channel"] not in CHANNELS:
        out.append(f"channel {event['channel']!r} is not a known channel")
    if (event.get("occurred_at") or "").strip():
        problem = _timestamp_problem(event["occurred_at"])
        if problem:
            out.append(problem)
    if event.get("revenue") is not None:
        problem = _revenue_problem(event["revenue"])
        if problem:
            out.append(problem)
    return out


def _day(event: dict) -> str:
    return datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00")).date().isoformat()


def intake(landing: Path, batch: Any, member: str | None = None,
           known_skus: Callable[[set[str]], set[str] | None] | None = None) -> dict:
    """Validate ``batch`` (a list of events); write the good ones; report each bad one with its index.
    ``member``: the caller is this member's app, which may speak for them (or anonymously) only.
    ``known_skus``: which of these SKUs the catalogue holds (None when it holds none: ingestion's
    ``unknown_sku`` rule is off without a catalogue too)."""
    if not isinstance(batch, list):
        return {"accepted": 0, "rejected": 0, "errors": [{"index": None, "errors": ["the body is a JSON list"]}]}
    if len(batch) > MAX_BATCH:
        return {"accepted": 0, "rejected": len(batch),
                "errors": [{"index": None, "errors": [f"at most {MAX_BATCH} events per batch"]}]}
    problems_of = [_problems(event) for event in batch]
    skus = {e["sku"] for e, p in zip(batch, problems_of, strict=True) if not p and e.get("sku") is not None}
    known = known_skus(skus) if known_skus is not None and skus else None
    errors, good, seen = [], [], set()
    for i, event in enumerate(batch):
        problems = problems_of[i]
        if not problems and known is not None and event.get("sku") is not None and event["sku"] not in known:
            problems = [f"sku {event['sku'][:64]!r} is not in the product catalogue"]
        if not problems and event["event_id"] in seen:
            problems = ["event_id repeated in this batch"]
        if not problems and member is not None and event.get("user_id") not in (None, member):
            problems = ["user_id is another member's: a member's app sends their own events"]
        if problems:
            event_id = event.get("event_id") if isinstance(event, dict) else None
            errors.append({"index": i, "event_id": event_id if isinstance(event_id, str) else None,
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
