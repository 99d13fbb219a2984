"""The append-only, hash-chained audit log: one chain per organisation plus the installation's.

hash = SHA-256 over the canonical JSON of (organization, seq, created, actor, action, object,
payload, prev_hash). Editing, inserting or deleting a stored entry breaks `verify`.
"""

import hashlib
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from .models import AuditLogEntry, ChainHead

GENESIS = "0" * 64


def _digest(entry: AuditLogEntry) -> str:
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
    return hashlib.sha256(text.encode()).hexdigest()


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


def verify(organization_id) -> dict:
    """Return {"ok": True, "entries": N} or {"ok": False, "first_broken": {"id", "seq", "reason"}}."""
    prev, expected_seq, count = GENESIS, 1, 0
    for entry in AuditLogEntry.objects.filter(organization_id=organization_id).order_by("seq").iterator():
        reason = None
        if entry.seq != expected_seq:
            reason = f"sequence gap: expected {expected_seq}, found {entry.seq} (an entry was deleted)"
        elif entry.prev_hash != prev:
            reason = "prev_hash does not match the previous entry's hash"
        elif _digest(entry) != entry.hash:
            reason = "hash does not match the entry's content (the entry was edited)"
        if reason:
            return {"ok": False, "first_broken": {"id": entry.pk, "seq": entry.seq, "reason": reason}}
        prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    head = ChainHead.objects.filter(organization_id=organization_id).first()
    if head is not None and (head.seq != count or head.hash != prev):
        return {"ok": False, "first_broken": {"id": None, "seq": count + 1,
                                              "reason": "the chain ends early: its last entries were deleted"}}
    return {"ok": True, "entries": count}
