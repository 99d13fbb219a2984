"""Compliance workflows: evaluate a checklist, attest, upload documents, snapshot and diff assessments."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from audit.models import AISystem
from core import artifacts, auditlog
from core.errors import AssayError

from . import applicability, documents, evidence
from . import vocabulary as v
from .choices import ItemStatus
from .models import Assessment, Attestation, EvidenceDocument
from .registry import Registry, load_frameworks

DISCLAIMER = ("Not legal advice: an automated reading of paraphrased rules and Assay's evidence; "
              "check it with a qualified lawyer before relying on it.")
PROFILE_FIELDS = ("name", "intended_purpose", "domain", "annex_iii_point", "role", "output_modalities",
                  "public_in_mainland_china", "public_opinion_capacity", "users_can_download", "general_purpose",
                  "systemic_risk", "emotion_or_biometric", "placed_on_eu_market", "placed_before_2026_08_02",
                  "placed_on_market_on", "significantly_changed", "art6_3_derogation", "public_sector",
                  "interacts_with_persons", "biometric_editing", "no_public_opinion_reason")
DEFAULT_ATTESTATION_DAYS = 365
MAX_TEXT = 20_000
_REGISTRY: Registry | None = None


class ComplianceError(AssayError):
    """Bad input to a compliance workflow; becomes a 400 with its message."""


def frameworks_dir() -> str | None:
    return getattr(settings, "ASSAY_COMPLIANCE_FRAMEWORKS_DIR", None) or os.getenv("ASSAY_COMPLIANCE_FRAMEWORKS_DIR")


def load_registry() -> Registry:
    """Load and validate the framework files (raises FrameworkError naming file and line); keep them."""
    global _REGISTRY
    _REGISTRY = load_frameworks(frameworks_dir())
    return _REGISTRY


def get_registry() -> Registry:
    return _REGISTRY or load_registry()


def attestation_days() -> int:
    """Return how many days an attestation stays valid (ASSAY_ATTESTATION_VALID_DAYS, default 365)."""
    raw = getattr(settings, "ASSAY_ATTESTATION_VALID_DAYS", None) or os.getenv("ASSAY_ATTESTATION_VALID_DAYS")
    if raw in (None, ""):
        return DEFAULT_ATTESTATION_DAYS
    if not str(raw).isdigit() or int(raw) < 1:
        raise ValueError(f"ASSAY_ATTESTATION_VALID_DAYS must be a positive number of days, not {raw!r}")
    return int(raw)


def profile_of(system: AISystem) -> dict[str, Any]:
    """Return the profile fields applicability reads, as plain JSON."""
    out = {name: getattr(system, name, None) for name in PROFILE_FIELDS}
    if isinstance(out.get("placed_on_market_on"), dt.date):
        out["placed_on_market_on"] = out["placed_on_market_on"].isoformat()
    return out


def parse_bundle(name: str) -> str:
    if name not in v.BUNDLES:
        raise ComplianceError(f"Unknown framework {name!r}: expected one of {', '.join(v.BUNDLES)}",
                              {"framework": f"expected one of {', '.join(v.BUNDLES)}"})
    return name


def parse_date(value: str | None) -> dt.date:
    """Return the evaluation date: `value` (YYYY-MM-DD) or today."""
    if value in (None, ""):
        return timezone.localdate()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ComplianceError(f"Bad date {value!r}: expected YYYY-MM-DD", {"date": "expected YYYY-MM-DD"}) from None


#
# Evaluation
#


def evaluate(system: AISystem, bundle: str, on: dt.date | None = None,
             context: evidence.EvidenceContext | None = None) -> dict[str, Any]:
    """Return the live checklist of one framework bundle for `system` on date `on` (default today)."""
    registry = get_registry()
    on = on or timezone.localdate()
    profile = profile_of(system)
    classification = applicability.classify(profile)
    ctx = context or evidence.EvidenceContext(system, on)
    items = [_evaluate_item(item, profile, classification, ctx) for item in registry.bundle_items(bundle)]
    return {
        "framework": bundle, "framework_title": v.BUNDLES[bundle],
        "framework_versions": registry.bundle_versions(bundle),
        "system": {"id": system.pk, "name": system.name, "organization": system.organization_id},
        "evaluated_on": on.isoformat(), "profile": profile, "classification": classification.as_dict(),
        "summary": summarise(items), "disclaimer": DISCLAIMER, "items": items,
    }


def _evaluate_item(item, profile, classification, ctx) -> dict[str, Any]:
    decision = applicability.decide(item, profile, classification)
    row = {
        "id": item.id, "framework": item.framework, "article": item.article, "title": item.title,
        "requirement": item.requirement, "verification": item.verification, "evidence_type": item.evidence_type,
        "evidence_hint": item.evidence_hint, "source_url": item.source_url, "notes": item.notes,
        "metrics": list(item.metrics), "document_kind": item.document_kind or None, "layers": list(item.layers),
        "applies": decision.applies, "applicability_reason": decision.reason,
        "applies_from": decision.applies_from.isoformat() if decision.applies_from else None,
        "applies_from_original": (decision.applies_from_original.isoformat()
                                  if decision.applies_from_original else None),
        "route": decision.route or None, "in_force": decision.in_force(ctx.on), "date_basis": decision.date_basis,
        "text_version": item.text_version, "title_zh": item.title_zh, "requirement_zh": item.requirement_zh,
    }
    if not decision.applies:
        return {**row, "status": ItemStatus.NOT_APPLICABLE.value, "status_reason": decision.reason, "evidence": []}
    outcome = evidence.evaluate(item, ctx)
    return {**row, "status": str(outcome.status), "status_reason": outcome.reason, "evidence": outcome.evidence}


def summarise(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Return counts per status, and met / applicable (the progress figure)."""
    by_status = {s.value: 0 for s in ItemStatus}
    for row in items:
        by_status[row["status"]] += 1
    applicable = len(items) - by_status[ItemStatus.NOT_APPLICABLE]
    in_force = sum(1 for row in items if row["applies"] and row["in_force"])
    return {"met": by_status[ItemStatus.MET], "applicable": applicable, "in_force": in_force,
            "total": len(items), "by_status": by_status}


def filter_items(checklist: dict[str, Any], *, status: str = "", article: str = "", framework: str = "") -> dict:
    """Return the checklist with only the items matching the filters (status, article text, instrument)."""
    if status and status not in ItemStatus.values:
        raise ComplianceError(f"Unknown status {status!r}", {"status": f"expected one of {', '.join(ItemStatus.values)}"})
    items = [row for row in checklist["items"]
             if (not status or row["status"] == status)
             and (not article or article.lower() in row["article"].lower() or article.upper() in row["id"])
             and (not framework or row["framework"] == framework)]
    return {**checklist, "items": items}


#
# Attestations and documents
#


def _store_file(upload_bytes: bytes | None, filename: str, system: AISystem):
    if upload_bytes is None:
        return None
    return artifacts.store(upload_bytes, organization=system.organization, filename=filename or "evidence")


def attest(*, user, system: AISystem, item_id: str, text: str, file_bytes: bytes | None = None,
           filename: str = "", valid_days: int | None = None) -> Attestation:
    """Record an attestation of one item; it expires after `valid_days` (default: the configured period)."""
    item = get_registry().item(item_id)
    if item is None:
        raise ComplianceError(f"Unknown checklist item {item_id!r}", {"item_id": "no such item"})
    text = (text or "").strip()
    if not text or len(text) > MAX_TEXT:
        raise ComplianceError(f"Attestation text must be 1 to {MAX_TEXT} characters", {"text": "required"})
    days = attestation_days() if valid_days is None else valid_days
    if not isinstance(days, int) or not 1 <= days <= 3660:
        raise ComplianceError("valid_days must be between 1 and 3660", {"valid_days": "1 to 3660"})
    now = timezone.now()
    with transaction.atomic():
        artifact = _store_file(file_bytes, filename, system)
        attestation = Attestation.objects.create(
            organization=system.organization, system=system, item_id=item.id, text=text, attested_by=user,
            attested_by_name=user.get_username(), attested_at=now, expires_at=now + dt.timedelta(days=days),
            artifact=artifact, item_text_version=item.text_version, framework_version=_item_version(item))
        auditlog.record("compliance.attest", organization=system.organization, actor=user, obj=attestation,
                        payload={"system": system.pk, "item_id": item.id, "expires_at": attestation.expires_at,
                                 "item_text_version": item.text_version,
                                 "file_sha256": artifact.sha256 if artifact else None})
    return attestation


def _item_version(item) -> str:
    registry = get_registry()
    return next((f.version for f in registry.files if item in f.items), "")


def revoke_attestation(*, user, attestation: Attestation) -> Attestation:
    if attestation.revoked is None:
        with transaction.atomic():
            Attestation.objects.filter(pk=attestation.pk).update(revoked=timezone.now())
            auditlog.record("compliance.attestation_revoke", organization=attestation.organization, actor=user,
                            obj=attestation, payload={"item_id": attestation.item_id})
        attestation.refresh_from_db()
    return attestation


def add_document(*, user, system: AISystem, kind: str, title: str, reference: str = "",
                 file_bytes: bytes | None = None, filename: str = "") -> EvidenceDocument:
    """Store a document of a named kind (a file, a reference such as a filing number, or both)."""
    if kind not in v.DOCUMENT_KINDS:
        raise ComplianceError(f"Unknown document kind {kind!r}", {"kind": f"expected one of {', '.join(v.DOCUMENT_KINDS)}"})
    title, reference = (title or "").strip(), (reference or "").strip()
    if not title or len(title) > 200 or len(reference) > 200:
        raise ComplianceError("A document needs a title (≤ 200 characters); a reference is ≤ 200", {"title": "required"})
    if file_bytes is None and not reference:
        raise ComplianceError("Upload a file or give a reference (e.g. the filing number)", {"file": "required"})
    sections = documents.section_check(kind, file_bytes, filename)
    with transaction.atomic():
        artifact = _store_file(file_bytes, filename, system)
        doc = EvidenceDocument.objects.create(organization=system.organization, system=system, kind=kind, title=title,
                                              reference=reference, artifact=artifact, uploaded_by=user,
                                              section_check=sections)
        auditlog.record("compliance.document_add", organization=system.organization, actor=user, obj=doc,
                        payload={"system": system.pk, "kind": kind, "title": title, "reference": reference,
                                 "sha256": artifact.sha256 if artifact else None,
                                 "missing_sections": sections.get("missing")})
    return doc


REVIEW_DECISIONS = ("approved", "rejected")


def review_document(*, user, document: EvidenceDocument, decision: str, note: str = "") -> EvidenceDocument:
    """Approve or reject a document; the reviewer must not be its uploader (name and time go to the audit log)."""
    if decision not in REVIEW_DECISIONS:
        raise ComplianceError(f"decision must be one of {', '.join(REVIEW_DECISIONS)}", {"decision": "approved or rejected"})
    if document.withdrawn is not None:
        raise ComplianceError("A withdrawn document cannot be reviewed", {"document": "withdrawn"})
    if document.uploaded_by_id is not None and document.uploaded_by_id == getattr(user, "pk", None):
        raise ComplianceError("A document must be reviewed by someone other than its uploader",
                              {"reviewer": "the uploader cannot approve their own document"})
    note = (note or "").strip()[:MAX_TEXT]
    now = timezone.now()
    with transaction.atomic():
        EvidenceDocument.objects.filter(pk=document.pk).update(
            review=decision, reviewed_by=user, reviewed_by_name=user.get_username(), reviewed_at=now, review_note=note)
        auditlog.record("compliance.document_review", organization=document.organization, actor=user, obj=document,
                        payload={"system": document.system_id, "kind": document.kind, "decision": decision,
                                 "reviewer": user.get_username(), "at": now.isoformat(), "note": note,
                                 "uploaded_by": getattr(document.uploaded_by, "username", None)})
    document.refresh_from_db()
    return document


def withdraw_document(*, user, document: EvidenceDocument) -> EvidenceDocument:
    if document.withdrawn is None:
        with transaction.atomic():
            EvidenceDocument.objects.filter(pk=document.pk).update(withdrawn=timezone.now())
            auditlog.record("compliance.document_withdraw", organization=document.organization, actor=user,
                            obj=document, payload={"kind": document.kind})
        document.refresh_from_db()
    return document


#
# Assessments
#


def canonical_json(content: Any) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)


def content_hash(content: Any) -> str:
    """Return the SHA-256 of the canonical JSON of an assessment's content."""
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def snapshot(*, user, system: AISystem, bundles: list[str] | None = None, on: dt.date | None = None) -> Assessment:
    """Record an immutable assessment of `bundles` (default: both) and append it to the audit log."""
    bundles = [parse_bundle(b) for b in (bundles or list(v.BUNDLES))]
    on = on or timezone.localdate()
    ctx = evidence.EvidenceContext(system, on)
    checklists = [evaluate(system, b, on, ctx) for b in dict.fromkeys(bundles)]
    content = json.loads(canonical_json({"system": checklists[0]["system"], "evaluated_on": on.isoformat(),
                                         "disclaimer": DISCLAIMER, "checklists": checklists,
                                         "audit_log_checkpoint": auditlog.checkpoint(system.organization_id)}))
    versions = [ver for c in checklists for ver in c["framework_versions"]]
    with transaction.atomic():
        assessment = Assessment.objects.create(
            organization=system.organization, system=system, frameworks=list(dict.fromkeys(bundles)),
            framework_versions=versions, evaluated_on=on, profile=profile_of(system), content=content,
            sha256=content_hash(content), content_hmac=auditlog.sign_content(content), created_by=user)
        auditlog.record("compliance.assessment", organization=system.organization, actor=user, obj=assessment,
                        payload={"system": system.pk, "frameworks": assessment.frameworks, "sha256": assessment.sha256,
                                 "content_hmac": assessment.content_hmac,
                                 "versions": [(x["file"], x["version"]) for x in versions],
                                 "summary": {c["framework"]: c["summary"] for c in checklists}})
        auditlog.write_checkpoint_on_commit(system.organization_id)
    return assessment


def verify_assessment(assessment: Assessment) -> bool:
    """Return True when the stored content still hashes to the recorded SHA-256 and to its keyed HMAC."""
    return content_hash(assessment.content) == assessment.sha256 and \
        auditlog.check_content(assessment.content, assessment.content_hmac)


def assessment_document(assessment: Assessment) -> dict[str, Any]:
    """Return the exportable form of an assessment: its content plus id, hash and integrity."""
    return {**assessment.content, "assessment": {"id": assessment.pk, "sha256": assessment.sha256,
                                                 "content_hmac": assessment.content_hmac,
                                                 "created": assessment.created.isoformat(),
                                                 "created_by": getattr(assessment.created_by, "username", None),
                                                 "integrity_ok": verify_assessment(assessment)}}


def live_document(checklist: dict[str, Any]) -> dict[str, Any]:
    """Return the exportable form of one live checklist, with a signed checkpoint of the audit log."""
    org_id = AISystem.objects.filter(pk=checklist["system"]["id"]).values_list("organization_id", flat=True).first()
    return {"system": checklist["system"], "evaluated_on": checklist["evaluated_on"], "disclaimer": DISCLAIMER,
            "checklists": [checklist], "assessment": None,
            "audit_log_checkpoint": auditlog.checkpoint(org_id) if org_id is not None else None}


def diff(a: Assessment, b: Assessment) -> dict[str, Any]:
    """Return what changed from assessment `a` to `b`: versions, profile, and each item's status."""
    rows_a, rows_b = _rows(a), _rows(b)
    changed = []
    for key in sorted(set(rows_a) | set(rows_b)):
        ra, rb = rows_a.get(key), rows_b.get(key)
        fields = ("status", "applies", "in_force", "applies_from")
        if ra is None or rb is None or any(ra.get(f) != rb.get(f) for f in fields):
            changed.append({"framework": key[0], "id": key[1],
                            "a": {f: ra.get(f) for f in fields} if ra else None,
                            "b": {f: rb.get(f) for f in fields} if rb else None,
                            "title": (rb or ra)["title"]})
    profile = {k: {"a": a.profile.get(k), "b": b.profile.get(k)} for k in sorted(set(a.profile) | set(b.profile))
               if a.profile.get(k) != b.profile.get(k)}
    return {"a": a.pk, "b": b.pk, "system": a.system_id, "evaluated_on": {"a": str(a.evaluated_on), "b": str(b.evaluated_on)},
            "framework_versions": {"a": a.framework_versions, "b": b.framework_versions,
                                   "changed": a.framework_versions != b.framework_versions},
            "profile_changes": profile, "items": changed, "unchanged": len(set(rows_a) & set(rows_b)) - sum(
                1 for c in changed if c["a"] and c["b"])}


def _rows(assessment: Assessment) -> dict[tuple[str, str], dict]:
    return {(c["framework"], row["id"]): row for c in assessment.content["checklists"] for row in c["items"]}
