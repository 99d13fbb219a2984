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
from watermark.evidence import WatermarkEvidence

from . import eventlogs
from . import samples as samples_mod
from . import vocabulary as v
from .choices import ItemStatus
from .models import Attestation, EvidenceDocument, EvidenceSample
from .registry import Item

ACCURACY_TOLERANCE_PASS = 0.01  # recorded accuracy may fall this far below the declared one and pass
ACCURACY_TOLERANCE_WARN = 0.05
SAMPLES_SHOWN = 12


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
        for d in (EvidenceDocument.objects.filter(system=self.system, withdrawn__isnull=True)
                  .select_related("artifact", "uploaded_by")):
            out.setdefault(d.kind, []).append(d)
        return out

    @cached_property
    def samples(self) -> list[EvidenceSample]:
        return list(EvidenceSample.objects.filter(system=self.system, removed__isnull=True).order_by("created", "pk"))

    @cached_property
    def event_log(self) -> eventlogs.LogCheck:
        return eventlogs.check(self.system, self.on)

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
            "uploaded_by": getattr(d.uploaded_by, "username", None), "review": d.review or "awaiting review",
            "reviewed_by": d.reviewed_by_name or None,
            "reviewed_at": d.reviewed_at.isoformat() if d.reviewed_at else None,
            "sections": d.section_check or None, "api": f"/api/v1/documents/{d.pk}"}


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
        "moderation_evaluation": _moderation_evaluation,
    }[item.evidence_type]
    outcome = handler(item, ctx)
    if item.also_attest and outcome.status == ItemStatus.MET:
        valid, _ = ctx.valid_attestation(item.id)
        if valid is not None and valid.item_text_version != item.text_version:
            return Outcome(ItemStatus.PARTIALLY_MET, outcome.reason + "; the attestation of the rest was made "
                           "against another text of this item: renew it", outcome.evidence)
        if valid is None:
            return Outcome(ItemStatus.PARTIALLY_MET, outcome.reason + "; attest the part Assay cannot see: "
                           + item.evidence_hint, outcome.evidence)
        outcome.evidence.append(attestation_link(valid))
    return outcome


def _attested(item: Item, ctx: EvidenceContext, why: str = "") -> Outcome:
    valid, expired = ctx.valid_attestation(item.id)
    if valid is not None and valid.item_text_version != item.text_version:
        return Outcome(ItemStatus.NEEDS_ATTESTATION, f"renew: the attestation by {valid.attested_by_name} of "
                       f"{valid.attested_at:%Y-%m-%d} was made against another text of this item "
                       f"({valid.framework_version or 'an earlier framework version'}); its wording or dates have "
                       f"changed since ({item.evidence_hint})", [{**attestation_link(valid), "renewal_needed": True}])
    if valid is not None:
        return Outcome(ItemStatus.MET, f"attested by {valid.attested_by_name} on {valid.attested_at:%Y-%m-%d}, "
                       f"valid until {valid.expires_at:%Y-%m-%d}", [attestation_link(valid)])
    if expired is not None:
        return Outcome(ItemStatus.NEEDS_ATTESTATION, f"the attestation by {expired.attested_by_name} expired on "
                       f"{expired.expires_at:%Y-%m-%d}; attest again ({item.evidence_hint})", [attestation_link(expired)])
    return Outcome(ItemStatus.NEEDS_ATTESTATION, why or f"needs an attestation ({item.evidence_hint})")


def _document(item: Item, ctx: EvidenceContext) -> Outcome:
    """An approved document (reviewer ≠ uploader) of the item's kind; known kinds are checked for their sections."""
    docs = ctx.documents.get(item.document_kind, [])
    label = v.DOCUMENT_KINDS[item.document_kind]
    if not docs:
        return Outcome(ItemStatus.NO_EVIDENCE, f"no {label.lower()} uploaded for this system ({item.evidence_hint})")
    approved = [d for d in docs if d.review == "approved"]
    if not approved:
        newest = docs[0]
        state = ("rejected by " + newest.reviewed_by_name) if newest.review == "rejected" else "awaiting review"
        return Outcome(ItemStatus.NO_EVIDENCE, f"{label}: {newest.title!r} uploaded {newest.created:%Y-%m-%d} is "
                       f"{state}: a document is evidence only once a reviewer other than the uploader approves it",
                       [document_link(d) for d in docs[:3]])
    newest = approved[0]
    base = (f"{label}: {newest.title!r} uploaded {newest.created:%Y-%m-%d}, approved by {newest.reviewed_by_name} "
            f"on {newest.reviewed_at:%Y-%m-%d}")
    check = newest.section_check or {}
    links = [document_link(d) for d in approved[:3]]
    if check and not check.get("complete"):
        missing = ", ".join(check.get("missing") or [])
        why = f" ({check['note']})" if check.get("note") else ""
        return Outcome(ItemStatus.PARTIALLY_MET, f"{base}; sections missing{why}: {missing}", links)
    if check:
        base += f"; all {len(check.get('required') or [])} required sections found"
    return Outcome(ItemStatus.MET, base, links)


def _moderation_evaluation(item: Item, ctx: EvidenceContext) -> Outcome:
    """The organisation's latest moderation evaluation (moderation.evidence_for): precision and recall measured.

    Met when a policy was evaluated on a labelled set and both numbers exist; the evaluation, its
    policy version and its data hash are linked. No evaluation: no evidence (a policy alone proves nothing).
    """
    from moderation.evidence import evidence_for

    found = evidence_for(ctx.system.organization)
    if found is None:
        return Outcome(ItemStatus.NO_EVIDENCE, f"no moderation evaluation yet ({item.evidence_hint}): evaluate a "
                       "moderation policy on a labelled set (POST /api/v1/moderation/evaluations)")
    policy = found["policy"]
    precision, recall = _rate(found.get("precision")), _rate(found.get("recall"))
    if precision is None or recall is None:
        return Outcome(ItemStatus.PARTIALLY_MET, f"moderation policy {policy['name']!r} v{policy['version']} was "
                       f"evaluated on {found['n']} items but no flagged precision/recall could be computed", [found])
    return Outcome(ItemStatus.MET, f"moderation policy {policy['name']!r} v{policy['version']} evaluated on "
                   f"{found['n']} labelled items on {found['at'][:10]}: precision {_rate_text(found['precision'])}, "
                   f"recall {_rate_text(found['recall'])}", [found])


def _rate(entry) -> float | None:
    """A rate of `moderation.evidence_for`: {"value", "n", "ci95"} (or a bare number)."""
    value = entry.get("value") if isinstance(entry, dict) else entry
    return None if value is None else float(value)


def _rate_text(entry) -> str:
    """'0.824 (95 % CI 0.590–0.938)', the interval where the evaluation has one."""
    interval = entry.get("ci95") if isinstance(entry, dict) else None
    text = f"{_rate(entry):.3f}"
    return text + (f" (95 % CI {interval[0]:.3f}–{interval[1]:.3f})" if interval and None not in interval else "")


GENERATIVE_PENDING = "no evidence yet: a generative safety evaluation"


def _generative_evaluation(item: Item, ctx: EvidenceContext) -> Outcome:
    """The system's latest generative safety evaluation (genai.evidence); never a tabular metric (COMPLIANCE.md A2.2/A2.3)."""
    from genai.evidence import outcome_for

    found = outcome_for(ctx.system)
    if found is not None:
        return Outcome(*found)
    return Outcome(ItemStatus.NO_EVIDENCE, f"{GENERATIVE_PENDING} ({item.evidence_hint}); Assay has no generative "
                   "evaluation run for this system, and tabular metrics cannot stand in for it")


NO_RETENTION_MINIMUM = {"CN-GAI-ART11-1"}  # GAI Art. 11 forbids unlawful retention; it sets no minimum


def _system_logs(item: Item, ctx: EvidenceContext) -> Outcome:
    """The system's own event log: Art. 12 fields, gaps, still running, retention (COMPLIANCE.md A2.2)."""
    lc = ctx.event_log
    link = {**lc.as_dict(), "api": f"/api/v1/systems/{ctx.system.pk}/events"}
    if lc.events == 0:
        return Outcome(ItemStatus.NO_EVIDENCE, "no event log of this system yet: send its events (POST "
                       f"/api/v1/systems/{ctx.system.pk}/events, JSON lines) or upload a log export; Assay's own "
                       "activity log is not the system's event logging")
    span = f"{lc.events} events from {lc.oldest:%Y-%m-%d} to {lc.newest:%Y-%m-%d}"
    if item.id not in NO_RETENTION_MINIMUM and not lc.retention_ok:
        return Outcome(ItemStatus.NOT_MET, f"retention: the oldest event ({lc.oldest:%Y-%m-%d}) is "
                       f"{lc.covered_days:.0f} days old, the log must go back at least {lc.retention_days} days "
                       f"(six months, Art. 19(1) / 26(6) / LBL Art. 9); {span}", [link])
    problems = []
    required = ["input_id"]
    if eventlogs.needs_art12_3({"annex_iii_point": ctx.system.annex_iii_point, "domain": ctx.system.domain}):
        required += ["reference_data", "verified_by"]
    for name in required:
        share = lc.fields.get(name, 0.0)
        if share < 1:
            problems.append(f"{(1 - share):.0%} of events lack {name}")
    if lc.gap_count:
        first = lc.gaps[0]
        problems.append(f"{lc.gap_count} gap(s) over {lc.gap_hours} h, first {first['from'][:16]} → "
                        f"{first['to'][:16]} ({first['hours']} h)")
    if not lc.running:
        problems.append(f"no event since {lc.newest:%Y-%m-%d}: logging seems to have stopped")
    if problems:
        return Outcome(ItemStatus.PARTIALLY_MET, f"{span}: " + "; ".join(problems), [link])
    return Outcome(ItemStatus.MET, f"{span}: {', '.join(required)} on every event, no gap over {lc.gap_hours} h, "
                   f"retention ≥ {lc.retention_days} days", [link])


def _log_integrity(item: Item, ctx: EvidenceContext) -> Outcome:
    result = ctx.log_verification
    link = {"kind": "audit_log", "url": "/audit-log/", "api": "/api/v1/audit-log/verify", **result}
    if result["ok"]:
        return Outcome(ItemStatus.MET, f"hash-chained audit log verified: {result['entries']} entries intact", [link])
    broken = result["first_broken"]
    return Outcome(ItemStatus.NOT_MET, f"audit log verification failed at entry {broken['seq']}: {broken['reason']}",
                   [link])


def _watermark_check(item: Item, ctx: EvidenceContext) -> Outcome:
    """The whole set of the system's output samples, each verified per layer (never the last verify call)."""
    wm = ctx.watermark
    wanted = ", ".join(item.layers)
    evidence: list[dict[str, Any]] = [wm.policy_ref] if wm.policy is not None else []
    off = [layer for layer in item.layers if wm.policy is not None and not wm.policy.get(layer)]
    policy_note = f"; the stamping policy has {', '.join(off)} off" if off else ""
    samples = ctx.samples
    if not samples:
        status = ItemStatus.NOT_MET if off and not item.informational else ItemStatus.NO_EVIDENCE
        return Outcome(status, f"no output samples of this system yet (layers needed: {wanted}): add the system's own "
                       f"outputs (POST /api/v1/systems/{ctx.system.pk}/evidence-samples or manage.py evidence_sample); "
                       f"verifying an image on the verify page is not evidence{policy_note}", evidence)
    counts = {layer: sum(1 for smp in samples if smp.report.get("layers", {}).get(layer, {}).get("ok"))
              for layer in item.layers}
    evidence += [samples_mod.sample_link(smp, item.layers) for smp in samples[:SAMPLES_SHOWN]]
    total = len(samples)
    summary = ", ".join(f"{layer} {counts[layer]}/{total}" for layer in item.layers)
    failing = [smp for smp in samples if not all(smp.report.get("layers", {}).get(layer, {}).get("ok")
                                                 for layer in item.layers)]
    detail = ""
    if failing:
        first = failing[0].report.get("layers", {})
        notes = "; ".join(first.get(layer, {}).get("note", "") for layer in item.layers
                          if not first.get(layer, {}).get("ok"))
        detail = f"; e.g. sample #{failing[0].pk} ({failing[0].filename or 'unnamed'}): {notes}"
    reason = f"{total} output sample(s): {summary} pass{detail}{policy_note}"
    if not failing:
        return Outcome(ItemStatus.MET, f"every layer ({wanted}) shown in all {total} output samples{policy_note}",
                       evidence)
    if item.informational:
        return Outcome(ItemStatus.NO_EVIDENCE, f"encouraged (鼓励), not required: {reason}", evidence)
    status = ItemStatus.PARTIALLY_MET if any(counts.values()) else ItemStatus.NOT_MET
    return Outcome(status, reason, evidence)


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
