"""The append-only, keyed and anchored audit log: one chain per organisation plus the installation's.

hash = HMAC-SHA256 over the canonical JSON of (organization, seq, created, actor, action, object,
payload, prev_hash), under a key derived from ASSAY_AUDIT_LOG_KEY, which is never stored in the
database. Editing, inserting or deleting a stored entry breaks `verify`, and someone who can write
the database but lacks the key cannot recompute the chain.

What the key alone cannot show is a chain cut short (its last entries deleted and the head moved
back) or rewritten by someone who holds the key. So the head of each chain is checkpointed outside
the database: a checkpoint (organization, seq, head hash, time, key id) signed with a second key
derived from the same one. Checkpoints are appended, one JSON line each, to a file per chain under
ASSAY_AUDIT_CHECKPOINT_DIR whenever a report or an assessment is made, whenever someone asks for one
(GET /api/v1/audit-log/checkpoint), by `manage.py audit_checkpoint` and by a backup; every report
and compliance export embeds one. `verify` checks the chain against every checkpoint it knows: the
entry at a checkpoint's seq must still have the checkpointed hash, and the chain must reach it.

The same key, derived a third way, signs the JSON content and the PDF of reports and assessments
(`sign_content`, `sign_bytes`).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import functools
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from .models import AuditLogEntry, ChainHead

GENESIS = "0" * 64
CHECKPOINT_VERSION = 1
CHECKPOINT_FIELDS = ("version", "organization", "seq", "head", "created", "key_id")
logger = logging.getLogger(__name__)


#
# Keys
#


@dataclass(frozen=True)
class _Keys:
    chain: bytes
    checkpoint: bytes
    content: bytes
    key_id: str


def parse_key(text: str) -> bytes:
    """Return the 32-byte audit-log key from its hex (64 characters) or base64 form."""
    text = (text or "").strip()
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != 32:
        raise ImproperlyConfigured("ASSAY_AUDIT_LOG_KEY must be 32 bytes, as 64 hex characters or base64")
    return key


@functools.lru_cache(maxsize=8)
def _derive(text: str) -> _Keys:
    master = parse_key(text)

    def derive(purpose: str) -> bytes:
        return hmac.new(master, f"assay/{purpose}/v1".encode(), hashlib.sha256).digest()

    return _Keys(chain=derive("audit-log/chain"), checkpoint=derive("audit-log/checkpoint"),
                 content=derive("content"), key_id=derive("key-id").hex()[:16])


def _keys() -> _Keys:
    return _derive(settings.ASSAY_AUDIT_LOG_KEY)


def key_id() -> str:
    """Return the public id of the current key (checkpoints name the key that signed them)."""
    return _keys().key_id


def _mac(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def canonical_json(content: Any) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)


def sign_content(content: Any) -> str:
    """Return the HMAC-SHA256 of the canonical JSON of a report's or assessment's content."""
    return _mac(_keys().content, b"json\0" + canonical_json(content).encode())


def sign_bytes(data: bytes) -> str:
    """Return the HMAC-SHA256 of a rendered file (a report's PDF)."""
    return _mac(_keys().content, b"file\0" + data)


def _same(expected: str, actual: str | None) -> bool:
    return isinstance(actual, str) and bool(actual) and hmac.compare_digest(expected, actual)


def check_content(content: Any, mac: str | None) -> bool:
    return _same(sign_content(content), mac)


def check_bytes(data: bytes, mac: str | None) -> bool:
    return _same(sign_bytes(data), mac)


#
# The chain
#


def _digest(entry: AuditLogEntry, key: bytes | None = None) -> str:
    body = {
        "organization": entry.organization_id,
        "seq": entry.seq,
        "created": entry.created.isoformat(),
        "actor": entry.actor_name,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "payload": entry.payload,
        "prev_hash": entry.prev_hash,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return _mac(key or _keys().chain, text.encode())


def _millisecond_now():
    """Return now to the millisecond: what a JSON dump keeps, so a restored entry hashes the same."""
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _jsonable(payload: dict) -> dict:
    return json.loads(json.dumps(payload or {}, cls=DjangoJSONEncoder))


def record(action: str, *, organization=None, actor=None, obj=None, payload: dict | None = None,
           object_type: str = "", object_id: str = "") -> AuditLogEntry:
    """Append one event to the organisation's chain (or the installation chain) and return it."""
    org_id = getattr(organization, "pk", organization)
    with transaction.atomic():
        head, _ = ChainHead.objects.get_or_create(organization_id=org_id)
        head = ChainHead.objects.select_for_update().get(pk=head.pk)
        entry = AuditLogEntry(
            organization_id=org_id, seq=head.seq + 1, actor=actor if getattr(actor, "pk", None) else None,
            actor_name=getattr(actor, "username", "") or (actor if isinstance(actor, str) else "system"),
            action=action, object_type=object_type or (type(obj).__name__ if obj is not None else ""),
            object_id=object_id or (str(obj.pk) if obj is not None else ""), payload=_jsonable(payload),
            prev_hash=head.hash, created=_millisecond_now(),
        )
        entry.hash = _digest(entry)
        entry.save()
        ChainHead.objects.filter(pk=head.pk).update(seq=entry.seq, hash=entry.hash)
    return entry


def diff(before: dict, after: dict, *, ignore: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Return the fields whose value changed, as {field: {"before": old, "after": new}}, for an update's entry.

    Every field of `after` is compared with the same field of `before` (absent: None); fields in
    `ignore` (a timestamp the save moves anyway) are left out. Equal values give an empty dict.
    """
    skip = set(ignore)
    return {k: {"before": before.get(k), "after": v} for k, v in after.items()
            if k not in skip and before.get(k) != v}


def record_job_failure(row, *, action: str, error: str) -> AuditLogEntry:
    """Append a failed job (core.jobs.run_job) to its organisation's chain, as the worker."""
    return record(action, organization=row.organization_id, actor="worker", obj=row, payload={"error": error})


#
# Checkpoints
#


def _checkpoint_body(cp: dict) -> bytes:
    return canonical_json({k: cp[k] for k in CHECKPOINT_FIELDS}).encode()


def checkpoint(organization_id) -> dict[str, Any]:
    """Return a signed checkpoint of the chain's head as the database has it now (nothing is written)."""
    last = (AuditLogEntry.objects.filter(organization_id=organization_id).order_by("-seq")
            .values("seq", "hash").first())
    cp = {"version": CHECKPOINT_VERSION, "organization": organization_id,
          "seq": last["seq"] if last else 0, "head": last["hash"] if last else GENESIS,
          "created": timezone.now().isoformat(timespec="milliseconds"), "key_id": key_id()}
    cp["signature"] = _mac(_keys().checkpoint, _checkpoint_body(cp))
    return cp


_ANY = object()


def checkpoint_problem(cp: Any, organization_id=_ANY) -> str | None:
    """Return why `cp` is not a valid checkpoint (of `organization_id`, when given), or None when it is."""
    if not isinstance(cp, dict) or any(k not in cp for k in (*CHECKPOINT_FIELDS, "signature")):
        return "not a checkpoint"
    org, seq = cp["organization"], cp["seq"]
    if cp["version"] != CHECKPOINT_VERSION or not (org is None or type(org) is int) or type(seq) is not int \
            or seq < 0 or not isinstance(cp["head"], str) or not isinstance(cp["created"], str):
        return "not a checkpoint"
    if cp["key_id"] != key_id():
        return f"signed with another key ({cp['key_id']!s:.16})"
    if not _same(_mac(_keys().checkpoint, _checkpoint_body(cp)), cp["signature"]):
        return "bad signature (the checkpoint was altered or forged)"
    if organization_id is not _ANY and org != organization_id:
        return "a checkpoint of another chain"
    if seq == 0 and cp["head"] != GENESIS:
        return "not a checkpoint"
    return None


def is_valid_checkpoint(cp: Any, organization_id=_ANY) -> bool:
    return checkpoint_problem(cp, organization_id) is None


def checkpoint_path(organization_id) -> Path:
    name = "installation.jsonl" if organization_id is None else f"org-{int(organization_id)}.jsonl"
    return Path(settings.ASSAY_AUDIT_CHECKPOINT_DIR) / name


def _last_line(handle) -> str:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - 4096))
    lines = handle.read().decode(errors="replace").splitlines()
    return lines[-1] if lines else ""


def write_checkpoint(organization_id) -> dict[str, Any]:
    """Append a fresh checkpoint of the chain to its file (unless the head has not moved) and return it."""
    path = checkpoint_path(organization_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # one writer at a time, across processes
        cp = checkpoint(organization_id)
        try:
            last = json.loads(_last_line(handle))
        except ValueError:
            last = None
        if is_valid_checkpoint(last, organization_id) and (last["seq"], last["head"]) == (cp["seq"], cp["head"]):
            return last
        handle.write((json.dumps(cp, sort_keys=True) + "\n").encode())
        handle.flush()
        os.fsync(handle.fileno())
    return cp


def write_checkpoint_on_commit(organization_id) -> None:
    """Checkpoint the chain once the current transaction commits (never a head that may roll back)."""
    def write():
        try:
            write_checkpoint(organization_id)
        except OSError:
            logger.exception("Could not write the audit-log checkpoint of chain %s", organization_id)

    transaction.on_commit(write)


def stored_checkpoints(organization_id) -> list[dict[str, Any]]:
    """Return the valid checkpoints of the chain's file; log (and skip) lines that do not verify."""
    try:
        text = checkpoint_path(organization_id).read_text(errors="replace")
    except FileNotFoundError:
        return []
    found, rejected = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            cp = json.loads(line)
        except ValueError:
            cp = None
        if is_valid_checkpoint(cp, organization_id):
            found.append(cp)
        else:
            rejected += 1
    if rejected:
        logger.warning("%d line(s) of %s are not valid checkpoints of this chain", rejected,
                       checkpoint_path(organization_id))
    return found


def _summary(cp: dict | None, source: str = "") -> dict[str, Any] | None:
    if cp is None:
        return None
    return {"seq": cp["seq"], "head": cp["head"], "created": cp["created"], "source": source or cp.get("_source", "")}


#
# Verification
#


def verify(organization_id, *, checkpoints: Iterable[dict] = (), use_stored: bool = True) -> dict:
    """Verify one chain with the key and against every checkpoint known for it.

    Return {"ok": True, "entries": N, "checkpoint": <the latest checkpoint matched, or None>} or
    {"ok": False, "first_broken": {"id", "seq", "reason"}} (with "checkpoint" when one was contradicted).
    `checkpoints` adds checkpoints from elsewhere (a backup's manifest, a report); invalid ones are skipped.
    """
    known: dict[int, list[dict]] = {}
    sources = [("file", stored_checkpoints(organization_id) if use_stored else []), ("given", checkpoints)]
    for source, cps in sources:
        for cp in cps:
            if is_valid_checkpoint(cp, organization_id):
                known.setdefault(cp["seq"], []).append({**cp, "_source": source})
    matched = max(known.get(0, []), key=lambda c: c["created"], default=None)
    key = _keys().chain
    prev, expected_seq, count = GENESIS, 1, 0
    for entry in AuditLogEntry.objects.filter(organization_id=organization_id).order_by("seq").iterator():
        reason, contradicted = None, None
        if entry.seq != expected_seq:
            reason = f"sequence gap: expected {expected_seq}, found {entry.seq} (an entry was deleted)"
        elif entry.prev_hash != prev:
            reason = "prev_hash does not match the previous entry's hash"
        elif not hmac.compare_digest(_digest(entry, key), entry.hash):
            reason = "hash does not match the entry's content (the entry was edited, or the key is not the one it was written with)"
        else:
            contradicted = next((cp for cp in known.get(entry.seq, ()) if cp["head"] != entry.hash), None)
            if contradicted is not None:
                reason = (f"the entry differs from the checkpoint of {contradicted['created']}: the chain was "
                          f"rewritten at or before entry {entry.seq}")
        if reason:
            result = {"ok": False, "first_broken": {"id": entry.pk, "seq": entry.seq, "reason": reason}}
            if contradicted is not None:
                result["checkpoint"] = _summary(contradicted)
            return result
        if entry.seq in known:
            matched = max(known[entry.seq], key=lambda c: c["created"])
        prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    beyond = [cp for seq, cps in known.items() if seq > count for cp in cps]
    if beyond:
        cp = max(beyond, key=lambda c: (c["seq"], c["created"]))
        return {"ok": False, "checkpoint": _summary(cp), "first_broken": {
            "id": None, "seq": count + 1,
            "reason": f"the chain ends at entry {count} but the checkpoint of {cp['created']} recorded {cp['seq']} "
                      "entries: its last entries were deleted"}}
    head = ChainHead.objects.filter(organization_id=organization_id).first()
    if head is not None and (head.seq != count or head.hash != prev):
        return {"ok": False, "first_broken": {"id": None, "seq": count + 1,
                                              "reason": "the chain ends early: its last entries were deleted"}}
    return {"ok": True, "entries": count, "checkpoint": _summary(matched)}
