"""Decisions: recorded per call without a database write per call, written in chained batches.

A call appends one JSON line to its process's spool file under the data folder (an append, no
database). Once the file holds ASSAY_MODERATION_BATCH_SIZE decisions or its oldest is
ASSAY_MODERATION_BATCH_SECONDS old, the next call hands the file over (an atomic rename) and writes
it to the database in one transaction per organisation: the decisions, and a DecisionBatch whose
hash chains the SHA-256 of every decision's record to the previous batch's hash; each batch is
appended to the organisation's keyed audit log, which anchors the chain. A beat task
(`assay.moderation.flush`, every minute) writes what quiet processes and dead ones left behind, and
deletes decisions older than ASSAY_MODERATION_RETENTION_DAYS (default 180).

So a crash loses nothing that reached the spool file; changing a stored decision, deleting one or
dropping a batch shows in `verify`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from core import auditlog

from .models import Decision, DecisionBatch

logger = logging.getLogger(__name__)
GENESIS = "0" * 64
RECORD_FIELDS = ("id", "organization", "policy_version", "source", "system", "input_sha256", "flagged", "outcome",
                 "categories", "scores", "risks", "rules", "text", "created")
STALE_CLAIM_SECONDS = 600

_lock = threading.Lock()
_state = {"count": 0, "first": None}
_made: dict[str, Path] = {}  # spool folders this process made, by setting: no mkdir per call on the hot path


def spool_dir() -> Path:
    configured = getattr(settings, "ASSAY_MODERATION_SPOOL_DIR", "") or ""
    key = configured or str(settings.DATA_DIR)
    path = _made.get(key)
    if path is None:
        path = Path(configured or Path(settings.DATA_DIR) / "moderation-spool")
        path.mkdir(parents=True, exist_ok=True)
        _made[key] = path
    return path


def _active_name() -> str:
    return f"active-{socket.gethostname()}-{os.getpid()}.jsonl"


def record_hash(record: dict) -> str:
    """Return the SHA-256 of a decision's canonical record (what its batch chains)."""
    body = {k: record.get(k) for k in RECORD_FIELDS}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def append(records: list[dict]) -> None:
    """Spool decisions of one call; hand the spool over for writing when it is full or old enough."""
    if not records:
        return
    lines = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records).encode()
    with _lock:
        try:
            fd = os.open(spool_dir() / _active_name(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except FileNotFoundError:  # the folder was removed since this process made it
            _made.clear()
            fd = os.open(spool_dir() / _active_name(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, lines)
        finally:
            os.close(fd)
        _state["count"] += len(records)
        _state["first"] = _state["first"] or time.monotonic()
        full = _state["count"] >= int(getattr(settings, "ASSAY_MODERATION_BATCH_SIZE", 500))
        old = time.monotonic() - _state["first"] >= float(getattr(settings, "ASSAY_MODERATION_BATCH_SECONDS", 5))
    if full or old:
        flush()


def flush() -> int:
    """Hand this process's spool over and write every spool file that is ready; return decisions written."""
    with _lock:
        active = spool_dir() / _active_name()
        if active.exists():
            os.replace(active, active.with_name(f"ready-{time.time_ns()}-{os.getpid()}.jsonl"))
        _state["count"], _state["first"] = 0, None
    return write_ready()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect_abandoned() -> None:
    """Hand over the spool files of dead processes on this host and of claims left unfinished."""
    host = socket.gethostname()
    for path in spool_dir().glob(f"active-{host}-*.jsonl"):
        pid = path.stem.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            try:
                os.replace(path, path.with_name(f"ready-{time.time_ns()}-{pid}.jsonl"))
            except FileNotFoundError:
                pass
    for path in spool_dir().glob("claimed-*.jsonl"):
        try:
            if time.time() - path.stat().st_mtime > STALE_CLAIM_SECONDS:
                os.replace(path, path.with_name("ready-" + path.name.removeprefix("claimed-")))
        except FileNotFoundError:
            pass


def write_ready() -> int:
    """Write every ready spool file to the database (each claimed by one rename: one writer per file)."""
    written = 0
    for path in sorted(spool_dir().glob("ready-*.jsonl")):
        claimed = path.with_name("claimed-" + path.name.removeprefix("ready-"))
        try:
            os.replace(path, claimed)
        except FileNotFoundError:
            continue  # another process took it
        records = []
        for line in claimed.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                logger.warning("moderation: skipped a torn line in %s", claimed.name)
        by_org: dict[int, list[dict]] = {}
        for r in records:
            by_org.setdefault(r["organization"], []).append(r)
        try:
            for org_id, rows in by_org.items():
                written += _write_batch(org_id, rows)
        except Exception:  # the caller is a moderation request: hand the file back for the next writer
            logger.exception("moderation: writing %s failed; it stays spooled", claimed.name)
            os.replace(claimed, path)
            continue
        claimed.unlink(missing_ok=True)
    return written


def _write_batch(org_id: int, records: list[dict]) -> int:
    with transaction.atomic():
        existing = set(Decision.objects.filter(pk__in=[r["id"] for r in records]).values_list("pk", flat=True))
        records = [r for r in records if r["id"] not in {str(e) for e in existing}]  # a re-written claim
        if not records:
            return 0
        # One writer per organisation at a time (the first batch has no row to lock, so lock the organisation's).
        Organization.objects.select_for_update().filter(pk=org_id).first()
        last = DecisionBatch.objects.filter(organization_id=org_id).order_by("-seq").first()
        times = {r["id"]: datetime.fromisoformat(r["created"]) for r in records}  # written by isoformat()
        records.sort(key=lambda r: (times[r["id"]], r["id"]))  # the order verify reads them in
        hashes = [record_hash(r) for r in records]
        digest = hashlib.sha256("".join(hashes).encode()).hexdigest()
        prev = last.hash if last else GENESIS
        seq = (last.seq if last else 0) + 1
        batch = DecisionBatch.objects.create(
            organization_id=org_id, seq=seq, count=len(records), digest=digest, prev_hash=prev,
            hash=_batch_hash(seq, digest, prev), first_at=min(times.values()), last_at=max(times.values()))
        _insert([
            Decision(id=r["id"], organization_id=org_id, policy_version_id=r["policy_version"], source=r["source"],
                     system_id=r.get("system"), input_sha256=r["input_sha256"], flagged=r["flagged"],
                     outcome=r["outcome"], categories=r["categories"], scores=r["scores"], risks=r["risks"],
                     rules=r["rules"], text=r.get("text") or "", created=times[r["id"]], record_hash=h, batch=batch)
            for r, h in zip(records, hashes, strict=True)])
        auditlog.record("moderation.decisions.batch", organization=org_id, actor="system", obj=batch,
                        payload={"seq": seq, "count": len(records), "hash": batch.hash})
    return len(records)


def _insert(rows: list[Decision]) -> None:
    """Insert a batch's decisions: with COPY on PostgreSQL, bulk_create elsewhere.

    On PostgreSQL, Django's bulk_create sends the rows as one array per column, which psycopg quotes in
    Python character by character: the four JSON columns of 500 decisions cost more CPU than moderating
    them. COPY takes each value as Django prepares it for the column (get_db_prep_save), in psycopg's C
    code.
    """
    if connection.vendor != "postgresql":
        Decision.objects.bulk_create(rows)
        return
    fields = Decision._meta.concrete_fields
    quote = connection.ops.quote_name
    sql = f"COPY {quote(Decision._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields])


def _batch_hash(seq: int, digest: str, prev: str) -> str:
    return hashlib.sha256(f"{seq}:{digest}:{prev}".encode()).hexdigest()


def stored_record(d: Decision) -> dict:
    """Return a stored decision as the record its hash was computed over."""
    return {"id": str(d.pk), "organization": d.organization_id, "policy_version": d.policy_version_id,
            "source": d.source, "system": d.system_id, "input_sha256": d.input_sha256, "flagged": d.flagged,
            "outcome": d.outcome, "categories": d.categories, "scores": d.scores, "risks": d.risks, "rules": d.rules,
            "text": d.text or None, "created": d.created.isoformat()}


def verify(organization_id: int) -> dict:
    """Check every batch of the organisation: its chain, and the decisions still held against its digest.

    Batches whose decisions the retention period removed are checked by their chain only.
    """
    prev, checked = GENESIS, 0
    for batch in DecisionBatch.objects.filter(organization_id=organization_id).order_by("seq"):
        if batch.prev_hash != prev or batch.hash != _batch_hash(batch.seq, batch.digest, batch.prev_hash):
            return {"ok": False, "batches": checked, "first_broken": {"seq": batch.seq, "reason": "chain"}}
        decisions = list(Decision.objects.filter(batch=batch).order_by("created", "pk"))
        if decisions:
            stored = [record_hash(stored_record(d)) for d in decisions]
            if len(decisions) != batch.count or stored != [d.record_hash for d in decisions]:
                return {"ok": False, "batches": checked, "first_broken": {"seq": batch.seq, "reason": "decisions"}}
            ordered = sorted(decisions, key=lambda d: (d.created, str(d.pk)))
            digest = hashlib.sha256("".join(d.record_hash for d in ordered).encode()).hexdigest()
            if digest != batch.digest:
                return {"ok": False, "batches": checked, "first_broken": {"seq": batch.seq, "reason": "decisions"}}
        prev = batch.hash
        checked += 1
    return {"ok": True, "batches": checked}


def purge_expired(now=None) -> int:
    """Delete the decisions of batches wholly older than the retention period; return how many.

    Whole batches go, so that every batch verify still finds decisions of is complete.
    """
    days = int(getattr(settings, "ASSAY_MODERATION_RETENTION_DAYS", 180))
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = Decision.objects.filter(Q(batch__last_at__lt=cutoff) | Q(batch__isnull=True, created__lt=cutoff))
    deleted, _ = old.delete()
    return deleted
