"""Turn Assay's evidence into an item status: audits, the audit log, documents, attestations, watermarks.

The rules are COMPLIANCE.md's ("How Assay uses it"). Each function returns an Outcome with the
status, a one-line reason and the evidence it rests on (links a reader can follow).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.utils import timezone

import watermark
from audit.choices import MetricStatus
from audit.models import AISystem, AuditRun
from audit.results import COUNTED_STATUSES
from core import auditlog
from core.choices import JobStatus
from watermark.evidence import WatermarkEvidence, layer_shown

from . import vocabulary as v
from .choices import ItemStatus
from .models import Attestation, EvidenceDocument
from .registry import Item

ACCURACY_TOLERANCE_PASS = 0.01  # recorded accuracy may fall this far below the declared one and pass
ACCURACY_TOLERANCE_WARN = 0.05


@dataclass
class Outcome:
    status: str
    reason: str
    evidence: list[dict[str, Any]] = field(default_factory=list)


class EvidenceContext:
    """Everything the evaluator reads for one system, fetched once per evaluation."""

    def __init__(self, system: AISystem, on: dt.date):
        self.system = system
        self.on = on
        self.now = timezone.now()

    @cached_property
    def audit(self) -> AuditRun | None:
        """Return the latest succeeded audit of the system's current model, or None."""
        if self.system.current_model_id is None:
            return None
        return (AuditRun.objects.filter(model_version_id=self.system.current_model_id, status=JobStatus.SUCCEEDED)
                .select_related("model_version").order_by("-finished", "-pk").first())

    @cached_property
    def log_verification(self) -> dict[str, Any]:
        return auditlog.verify(self.system.organization_id)

    @cached_property
    def attestations(self) -> dict[str, list[Attestation]]:
        out: dict[str, list[Attestation]] = {}
        for a in Attestation.objects.filter(system=self.system, revoked__isnull=True).order_by("-attested_at", "-pk"):
            out.setdefault(a.item_id, []).append(a)
        return out

    @cached_property
    def documents(self) -> dict[str, list[EvidenceDocument]]:
        out: dict[str, list[EvidenceDocument]] = {}
        for d in EvidenceDocument.objects.filter(system=self.system, withdrawn__isnull=True).select_related("artifact"):
            out.setdefault(d.kind, []).append(d)
        return out

    @cached_property
    def watermark(self) -> WatermarkEvidence:
        return watermark.evidence_for(self.system)

    def valid_attestation(self, item_id: str) -> tuple[Attestation | None, Attestation | None]:
        """Return (the newest attestation still valid, the newest expired one) for an item."""
        valid = expired = None
        for a in self.attestations.get(item_id, []):
            if a.expires_at > self.now and valid is None:
                valid = a
            elif a.expires_at <= self.now and expired is None:
                expired = a
        return valid, expired


#
# Evidence links
#


def attestation_link(a: Attestation) -> dict[str, Any]:
    return {"kind": "attestation", "id": a.pk, "by": a.attested_by_name, "at": a.attested_at.isoformat(),
            "expires_at": a.expires_at.isoformat(), "text": a.text, "file": a.artifact.filename if a.artifact else None,
            "api": f"/api/v1/attestations/{a.pk}"}


def document_link(d: EvidenceDocument) -> dict[str, Any]:
    return {"kind": "document", "id": d.pk, "document_kind": d.kind, "title": d.title, "reference": d.reference,
            "sha256": d.artifact.sha256 if d.artifact else None, "uploaded": d.created.isoformat(),
            "api": f"/api/v1/documents/{d.pk}"}


def audit_link(run: AuditRun, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "audit", "id": run.pk, "model_version": str(run.model_version),
            "finished": run.finished.isoformat() if run.finished else None, "metrics": metrics,
            "url": f"/audits/{run.pk}/", "api": f"/api/v1/audits/{run.pk}/results"}


#
# Per evidence type
#


def evaluate(item: Item, ctx: EvidenceContext) -> Outcome:
    """Return the status of an applicable item from the evidence its type names."""
    handler = {
        "metric_report": _metric_report, "watermark_check": _watermark_check, "log_integrity": _log_integrity,
        "document": _document, "manual_attestation": _attested, "process": _attested,
        "system_logs": _system_logs, "generative_evaluation": _generative_evaluation,
    }[item.evidence_type]
    outcome = handler(item, ctx)
    if item.also_attest and outcome.status == ItemStatus.MET:
        valid, _ = ctx.valid_attestation(item.id)
        if valid is None:
            return Outcome(ItemStatus.PARTIALLY_MET, outcome.reason + "; attest the part Assay cannot see: "
                           + item.evidence_hint, outcome.evidence)
        outcome.evidence.append(attestation_link(valid))
    return outcome


def _attested(item: Item, ctx: EvidenceContext, why: str = "") -> Outcome:
    valid, expired = ctx.valid_attestation(item.id)
    if valid is not None:
        return Outcome(ItemStatus.MET, f"attested by {valid.attested_by_name} on {valid.attested_at:%Y-%m-%d}, "
                       f"valid until {valid.expires_at:%Y-%m-%d}", [attestation_link(valid)])
    if expired is not None:
        return Outcome(ItemStatus.NEEDS_ATTESTATION, f"the attestation by {expired.attested_by_name} expired on "
                       f"{expired.expires_at:%Y-%m-%d}; attest again ({item.evidence_hint})", [attestation_link(expired)])
    return Outcome(ItemStatus.NEEDS_ATTESTATION, why or f"needs an attestation ({item.evidence_hint})")


def _document(item: Item, ctx: EvidenceContext) -> Outcome:
    docs = ctx.documents.get(item.document_kind, [])
    label = v.DOCUMENT_KINDS[item.document_kind]
    if not docs:
        return Outcome(ItemStatus.NO_EVIDENCE, f"no {label.lower()} uploaded for this system ({item.evidence_hint})")
    newest = docs[0]
    return Outcome(ItemStatus.MET, f"{label}: {newest.title!r} uploaded {newest.created:%Y-%m-%d}",
                   [document_link(d) for d in docs[:3]])


GENERATIVE_PENDING = "no evidence yet: a generative safety evaluation"


def _generative_evaluation(item: Item, ctx: EvidenceContext) -> Outcome:
    """Generative-content safety is never evidenced by a tabular metric (COMPLIANCE.md A2.2/A2.3)."""
    return Outcome(ItemStatus.NO_EVIDENCE, f"{GENERATIVE_PENDING} ({item.evidence_hint}); Assay has no generative "
                   "evaluation run for this system, and tabular metrics cannot stand in for it")


def _system_logs(item: Item, ctx: EvidenceContext) -> Outcome:
    return Outcome(ItemStatus.NO_EVIDENCE, "no event log of this system yet")


def _log_integrity(item: Item, ctx: EvidenceContext) -> Outcome:
    result = ctx.log_verification
    link = {"kind": "audit_log", "url": "/audit-log/", "api": "/api/v1/audit-log/verify", **result}
    if result["ok"]:
        return Outcome(ItemStatus.MET, f"hash-chained audit log verified: {result['entries']} entries intact", [link])
    broken = result["first_broken"]
    return Outcome(ItemStatus.NOT_MET, f"audit log verification failed at entry {broken['seq']}: {broken['reason']}",
                   [link])


def _watermark_check(item: Item, ctx: EvidenceContext) -> Outcome:
    wm = ctx.watermark
    wanted = ", ".join(item.layers)
    if wm.policy is None:
        return Outcome(ItemStatus.NO_EVIDENCE, f"no stamping policy for this system yet (layers needed: {wanted})")
    off = [layer for layer in item.layers if not wm.policy.get(layer)]
    evidence = [wm.policy_ref]
    if off:
        return Outcome(ItemStatus.NOT_MET, f"the stamping policy has {', '.join(off)} off", evidence)
    if wm.sample is None:
        return Outcome(ItemStatus.NO_EVIDENCE, f"policy has {wanted} on but no verified sample yet", evidence)
    checks = {layer: layer_shown(layer, wm.sample) for layer in item.layers}
    evidence.append({**wm.sample_ref, "checks": {k: {"ok": ok, "note": note} for k, (ok, note) in checks.items()}})
    shown = [k for k, (ok, _) in checks.items() if ok]
    notes = "; ".join(note for _, note in checks.values())
    if len(shown) == len(item.layers):
        return Outcome(ItemStatus.MET, f"policy on and the latest verified sample shows {wanted}: {notes}", evidence)
    status = ItemStatus.PARTIALLY_MET if shown else ItemStatus.NOT_MET
    return Outcome(status, f"the latest verified sample does not show every layer: {notes}", evidence)


def _metric_report(item: Item, ctx: EvidenceContext) -> Outcome:
    if not item.metrics:
        return _attested(item, ctx, "no metric in Assay's catalog measures this yet; attest it. Evidence that "
                                    f"would serve: {item.evidence_hint}")
    if ctx.system.current_model_id is None:
        return Outcome(ItemStatus.NO_EVIDENCE, "the system has no current model, so no audit can speak for it")
    run = ctx.audit
    if run is None:
        return Outcome(ItemStatus.NO_EVIDENCE, "no succeeded audit of the system's current model yet")
    rows = [_metric_row(mid, ctx) for mid in item.metrics]
    counted = [r for r in rows if r["status"] in COUNTED_STATUSES]
    evidence = [audit_link(run, rows)]
    if not counted:
        return Outcome(ItemStatus.NO_EVIDENCE, f"audit #{run.pk} computed none of {', '.join(item.metrics)}", evidence)
    statuses = {r["status"] for r in counted}
    summary = ", ".join(f"{r['id']} {r['status']}" for r in counted)
    if MetricStatus.FAIL in statuses:
        return Outcome(ItemStatus.NOT_MET, f"audit #{run.pk}: {summary}", evidence)
    if MetricStatus.WARN in statuses:
        return Outcome(ItemStatus.PARTIALLY_MET, f"audit #{run.pk}: {summary}", evidence)
    return Outcome(ItemStatus.MET, f"audit #{run.pk}: {summary}", evidence)


def _metric_row(metric_id: str, ctx: EvidenceContext) -> dict[str, Any]:
    if metric_id == v.ACCURACY:
        return _accuracy_row(ctx)
    metric = ctx.audit.metric(metric_id)
    if metric is None:
        return {"id": metric_id, "status": "not_computed", "value": None, "reason": "not in this audit"}
    return {"id": metric_id, "status": metric.status, "value": metric.value, "reason": metric.reason,
            "url": f"/audits/{ctx.audit.pk}/metrics/{metric_id}/"}


def declared_accuracy(card: dict[str, Any]) -> float | None:
    """Return the accuracy a model card declares in `performance` ({"accuracy": 0.84} or "accuracy 84 %"), or None."""
    performance = card.get("performance")
    if isinstance(performance, dict):
        raw = performance.get("accuracy")
    else:
        match = re.search(r"accuracy\D{0,12}?(\d+(?:\.\d+)?)\s*(%?)", str(performance or ""), flags=re.I)
        raw = (match.group(1) + match.group(2)) if match else None
    try:
        number = float(str(raw).strip().rstrip("%")) if raw not in (None, "") else None
    except ValueError:
        return None
    if number is None or number < 0:
        return None
    return number / 100 if number > 1 else number


def _accuracy_row(ctx: EvidenceContext) -> dict[str, Any]:
    recorded = ctx.audit.accuracy  # PRIV-03's evaluation accuracy, else the robustness metrics' clean one
    declared = declared_accuracy(ctx.audit.model_version.model_card or {})
    row = {"id": v.ACCURACY, "value": recorded, "declared": declared}
    if recorded is None:
        return {**row, "status": "not_computed", "reason": "the audit recorded no accuracy"}
    if declared is None:
        return {**row, "status": MetricStatus.WARN, "reason": "the model card declares no accuracy (Art. 15(3))"}
    gap = round(declared - recorded, 9)  # 0.81 - 0.80 is 0.0100000…09 in floating point
    status = (MetricStatus.PASS if gap <= ACCURACY_TOLERANCE_PASS else MetricStatus.WARN
              if gap <= ACCURACY_TOLERANCE_WARN else MetricStatus.FAIL)
    return {**row, "status": status, "reason": f"recorded {recorded:.3f} vs declared {declared:.3f}"}
