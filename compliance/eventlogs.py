"""The AI system's own event logs (Art. 12, 19, 26(6); LBL Art. 9; GAI Art. 11), never Assay's activity log.

A system sends its events as JSON lines (`POST /api/v1/systems/{id}/events`, batched) or a log
export is uploaded (JSON lines, a JSON array, or CSV with a header). Each event needs a
`timestamp` (ISO 8601 with a time zone; `time`, `ts` and `@timestamp` are read too); the fields
Art. 12 names are read when present: `input_id` (identifier of the input data), `reference_data`
(the reference database the input was checked against), `verified_by` (the person who verified
the result, Art. 12(3)(d) and 14(5)), `type`. Everything else is kept as the event's data.

`check(system, on)` says what the log proves: the share of events carrying each field, the gaps
longer than the configured gap (`ASSAY_EVENT_GAP_HOURS`, default 72), whether logging is still
running on the evaluation date, and retention: the oldest event at least the configured period
old (`ASSAY_LOG_RETENTION_DAYS`, default 183 days: six months, Art. 19(1) and 26(6)).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from core import artifacts, auditlog
from core.errors import AssayError

from .models import EventBatch, SystemEvent

MAX_EVENTS_PER_BATCH = 10_000
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
DEFAULT_RETENTION_DAYS = 183  # six months
DEFAULT_GAP_HOURS = 72
TIME_KEYS = ("timestamp", "time", "ts", "@timestamp")
FIELD_KEYS = {"input_id": ("input_id", "input", "request_id"), "reference_data": ("reference_data", "reference_db"),
              "verified_by": ("verified_by", "verifier", "reviewed_by"), "event_type": ("type", "event", "event_type")}
ART12_FIELDS = ("input_id", "reference_data", "verified_by")
MAX_ERRORS = 50


class EventLogError(AssayError):
    """An event log that cannot be read; a 400 with the message."""


def _setting(name: str, default: int) -> int:
    raw = getattr(settings, name, None) or os.getenv(name)
    if raw in (None, ""):
        return default
    if not str(raw).isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def retention_days() -> int:
    return _setting("ASSAY_LOG_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)


def gap_hours() -> int:
    return _setting("ASSAY_EVENT_GAP_HOURS", DEFAULT_GAP_HOURS)


#
# Reading
#


def parse_timestamp(value: Any) -> dt.datetime | None:
    """Return an aware datetime from ISO 8601 text (a naive one is refused) or epoch seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _first(obj: dict, keys: tuple[str, ...]) -> Any:
    return next((obj[k] for k in keys if obj.get(k) not in (None, "")), None)


def normalise(obj: Any) -> tuple[dict | None, str]:
    """Return (the event's fields, "") or (None, why it is refused)."""
    if not isinstance(obj, dict):
        return None, "an event must be a JSON object"
    if "\\u0000" in json.dumps(obj):
        return None, "an event may not hold a NUL character"
    raw_time = _first(obj, TIME_KEYS)
    when = parse_timestamp(raw_time)
    if when is None:
        return None, ("no timestamp" if raw_time is None
                      else f"bad timestamp {str(raw_time)[:40]!r}: ISO 8601 with a time zone, or epoch seconds")
    out = {"timestamp": when, "data": obj}
    for name, keys in FIELD_KEYS.items():
        value = _first(obj, keys)
        out[name] = "" if value is None else str(value)[: 100 if name == "event_type" else 200]
    return out, ""


def read_lines(text: str) -> list[tuple[int, Any]]:
    """Return (line number, parsed JSON or the error text) for JSON lines, or a JSON array / {"events": [...]}."""
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            if stripped.startswith("["):
                raise EventLogError(f"Not valid JSON: {exc}") from None
            data = None  # JSON lines
        if isinstance(data, list):
            return list(enumerate(data, start=1))
        if isinstance(data, dict):
            rows = data.get("events") if "events" in data else [data]
            if not isinstance(rows, list):
                raise EventLogError("Expected a JSON array of events, {\"events\": [...]}, or JSON lines")
            return list(enumerate(rows, start=1))
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            out.append((number, ValueError(f"not JSON: {exc.msg}")))
        except RecursionError:
            out.append((number, ValueError("not JSON: nested too deeply")))
    return out


def read_csv(text: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not set(reader.fieldnames) & set(TIME_KEYS):
        raise EventLogError(f"A CSV log export needs a header with one of {', '.join(TIME_KEYS)}")
    return [(number, {k: v for k, v in row.items() if k}) for number, row in enumerate(reader, start=2)]


def decode(data: bytes, filename: str = "") -> list[tuple[int, Any]]:
    """Return the numbered events of a log export (JSON lines, JSON array or CSV)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise EventLogError(f"A log export is at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EventLogError("A log export must be UTF-8 text (JSON lines, JSON or CSV)") from None
    first = text.lstrip().split("\n", 1)[0].strip().lower()
    if filename.lower().endswith(".csv") or (not first.startswith(("{", "[")) and
                                             any(k in first.split(",") for k in TIME_KEYS)):
        return read_csv(text)
    return read_lines(text)


#
# Writing
#


def ingest(*, system, user, rows: list[tuple[int, Any]], source: str, data: bytes | None = None,
           filename: str = "") -> EventBatch:
    """Store the valid events of one batch and record the batch in the audit log; bad lines are reported."""
    if not rows:
        raise EventLogError("No events in the request")
    if source == "api" and len(rows) > MAX_EVENTS_PER_BATCH:
        raise EventLogError(f"At most {MAX_EVENTS_PER_BATCH} events per request: send several batches")
    good, errors = [], []
    for number, obj in rows:
        if isinstance(obj, Exception):
            errors.append({"line": number, "error": str(obj)})
            continue
        event, why = normalise(obj)
        if event is None:
            errors.append({"line": number, "error": why})
        else:
            good.append(event)
    with transaction.atomic():
        artifact = (artifacts.store(data, organization=system.organization, filename=filename or "events.jsonl")
                    if data is not None else None)
        batch = EventBatch.objects.create(organization=system.organization, system=system, source=source,
                                          artifact=artifact, filename=filename[:200], accepted=len(good),
                                          rejected=len(errors), errors=errors[:MAX_ERRORS],
                                          created_by=user if getattr(user, "pk", None) else None)
        SystemEvent.objects.bulk_create([
            SystemEvent(organization=system.organization, system=system, batch=batch, timestamp=e["timestamp"],
                        event_type=e["event_type"], input_id=e["input_id"], reference_data=e["reference_data"],
                        verified_by=e["verified_by"], data=json.loads(json.dumps(e["data"], default=str)))
            for e in good], batch_size=1000)
        auditlog.record("compliance.events", organization=system.organization, actor=user, obj=batch,
                        payload={"system": system.pk, "source": source, "accepted": len(good),
                                 "rejected": len(errors), "sha256": artifact.sha256 if artifact else None})
    return batch


def batch_summary(batch: EventBatch) -> dict[str, Any]:
    return {"batch": batch.pk, "source": batch.source, "accepted": batch.accepted, "rejected": batch.rejected,
            "errors": batch.errors, "created": batch.created.isoformat()}


#
# What the log proves
#


@dataclass
class LogCheck:
    """The findings on a system's event log as of a date."""

    events: int = 0
    oldest: dt.datetime | None = None
    newest: dt.datetime | None = None
    fields: dict[str, float] = field(default_factory=dict)
    gaps: list[dict[str, str]] = field(default_factory=list)
    gap_count: int = 0
    retention_days: int = DEFAULT_RETENTION_DAYS
    retention_ok: bool = False
    covered_days: float = 0.0
    running: bool = False
    gap_hours: int = DEFAULT_GAP_HOURS
    batches: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "system_event_log", "events": self.events,
                "oldest": self.oldest.isoformat() if self.oldest else None,
                "newest": self.newest.isoformat() if self.newest else None,
                "fields": self.fields, "gaps": self.gaps, "gap_count": self.gap_count,
                "gap_hours": self.gap_hours, "retention_days": self.retention_days,
                "covered_days": round(self.covered_days, 1), "retention_ok": self.retention_ok,
                "running": self.running, "batches": self.batches}


def check(system, on: dt.date) -> LogCheck:
    """Return what the system's own event log shows on date `on` (events after that day are ignored)."""
    end = dt.datetime.combine(on + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    events = SystemEvent.objects.filter(system=system, timestamp__lt=end)
    out = LogCheck(retention_days=retention_days(), gap_hours=gap_hours(),
                   batches=EventBatch.objects.filter(system=system).count())
    rows = list(events.order_by("timestamp").values_list("timestamp", "input_id", "reference_data", "verified_by"))
    out.events = len(rows)
    if not rows:
        return out
    out.oldest, out.newest = rows[0][0], rows[-1][0]
    for index, name in enumerate(ART12_FIELDS, start=1):
        out.fields[name] = round(sum(1 for r in rows if r[index]) / len(rows), 4)
    limit = dt.timedelta(hours=out.gap_hours)
    for before, after in zip(rows, rows[1:], strict=False):
        if after[0] - before[0] > limit:
            out.gap_count += 1
            if len(out.gaps) < 10:
                out.gaps.append({"from": before[0].isoformat(), "to": after[0].isoformat(),
                                 "hours": str(round((after[0] - before[0]).total_seconds() / 3600, 1))})
    out.covered_days = (end - out.oldest).total_seconds() / 86400
    out.retention_ok = out.oldest <= end - dt.timedelta(days=out.retention_days)
    out.running = end - out.newest <= limit + dt.timedelta(days=1)
    return out


def needs_art12_3(profile: dict[str, Any]) -> bool:
    """Return True when Art. 12(3) asks for the reference data and the verifying person (Annex III 1(a))."""
    point = (profile.get("annex_iii_point") or "").replace(" ", "")
    return point.startswith("1(a)") or (point == "" and (profile.get("domain") or "").startswith("annex_iii_1"))
