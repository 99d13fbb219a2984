"""What the watermark app offers compliance: a system's stamping policy, its latest verification, and `layer_shown`.

Compliance's label items rest on the system's output samples (compliance/samples.py), each read
with `layer_shown`; the latest verification is informational only (anyone may verify any image).

`evidence_for(system)` reads, never writes (no default policy is created); `layer_shown(layer, report)`
reads a verify report (WATERMARK.md "Verify") for one layer. Layers are named as the compliance
frameworks name them: explicit (the visible label), metadata (the implicit AIGC label), c2pa, invisible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .explicit import MIN_HEIGHT_RATIO
from .models import Verification, WatermarkPolicy

__all__ = ["LAYERS", "WatermarkEvidence", "evidence_for", "layer_shown"]

LAYERS = ("explicit", "metadata", "c2pa", "invisible")


@dataclass(frozen=True)
class WatermarkEvidence:
    """A system's watermark evidence: `policy` None when none applies, `sample` None when none was verified."""

    policy: dict[str, bool] | None = None
    policy_ref: dict[str, Any] = field(default_factory=dict)
    sample: dict[str, Any] | None = None
    sample_ref: dict[str, Any] = field(default_factory=dict)


def policy_layers(policy: WatermarkPolicy) -> dict[str, bool]:
    """Return which of LAYERS the policy stamps."""
    return {"explicit": policy.visible, "metadata": policy.metadata, "c2pa": policy.c2pa, "invisible": policy.invisible}


def evidence_for(system) -> WatermarkEvidence:
    """Return the policy that applies to `system` (its own, else the organisation's default) and its newest verified sample.

    A sample counts only when it is this system's output; a policy or sample that does not exist is None.
    """
    policies = WatermarkPolicy.objects.filter(organization_id=system.organization_id)
    policy = policies.filter(system=system).first() or policies.filter(system__isnull=True).first()
    sample = (Verification.objects.filter(organization_id=system.organization_id, system=system)
              .order_by("-verified_at", "-pk").first())
    out: dict[str, Any] = {}
    if policy is not None:
        layers = policy_layers(policy)
        out.update(policy=layers, policy_ref={"kind": "watermark_policy", "id": policy.pk, "layers": layers})
    if sample is not None and isinstance(sample.report, dict) and sample.report:
        out.update(sample=sample.report, sample_ref={"kind": "watermark_sample", "id": sample.pk,
                                                     "verified_at": sample.verified_at.isoformat()})
    return WatermarkEvidence(**out)


def layer_shown(layer: str, report: dict[str, Any]) -> tuple[bool, str]:
    """Return whether a verify report shows `layer`, and a one-line note."""
    if layer == "explicit":  # the pixels (OCR), never the stamping record alone
        e = report.get("explicit") or {}
        if "ok" not in e:
            return False, "explicit label not read from the pixels (no OCR result)"
        ocr = e.get("ocr") or {}
        ratio = ocr.get("height_ratio")
        return bool(e["ok"]), (f"explicit label (OCR) {e.get('note', '')}"
                               + (f" (needs ≥ {MIN_HEIGHT_RATIO:g})" if ratio is not None else ""))
    if layer == "metadata":
        m = report.get("implicit") or {}
        ok = bool(m.get("present")) and bool(m.get("complete")) and m.get("integrity") == "ok"
        return ok, f"AIGC metadata present={m.get('present')} complete={m.get('complete')} integrity={m.get('integrity')}"
    if layer == "c2pa":
        state = (report.get("c2pa") or {}).get("state")
        note = "C2PA " + str(state)
        if state == "valid-untrusted":
            note += " (development certificate: counts, flagged)"
        return state in ("valid", "valid-untrusted"), note
    inv = report.get("invisible") or {}
    return bool(inv.get("detected")), f"invisible watermark detected={inv.get('detected')}"
