"""Read the watermark app's evidence for a system: the stamping policy and the latest verified sample.

The watermark app is built alongside this one, so nothing here assumes its models exist: when it
has no policy or verification model yet (or they hold nothing for this system) the answer is
"no evidence", which the evaluator reports as "no evidence yet" and never as "met".
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from django.db import models

POLICY_MODELS = ("StampingPolicy", "StampPolicy", "WatermarkPolicy", "LabelPolicy", "Policy")
SAMPLE_MODELS = ("VerifiedSample", "Verification", "VerificationRecord", "VerifyRecord", "WatermarkVerification",
                 "VerificationResult")
REPORT_FIELDS = ("report", "result", "layers", "verification")
LAYER_FIELDS = {
    "explicit": ("explicit", "visible", "explicit_label", "visible_label", "explicit_enabled", "visible_enabled"),
    "metadata": ("metadata", "implicit", "implicit_label", "aigc", "metadata_enabled", "implicit_enabled"),
    "c2pa": ("c2pa", "content_credentials", "c2pa_enabled"),
    "invisible": ("invisible", "watermark", "invisible_watermark", "invisible_enabled", "watermark_enabled"),
}
MIN_LABEL_HEIGHT = 0.05


@dataclass
class WatermarkEvidence:
    """What the watermark app holds for one system (policy None: no policy; sample None: none verified)."""

    available: bool
    policy: dict[str, bool] | None = None
    policy_ref: dict[str, Any] = field(default_factory=dict)
    sample: dict[str, Any] | None = None
    sample_ref: dict[str, Any] = field(default_factory=dict)


def _model(module, names: tuple[str, ...]) -> type[models.Model] | None:
    for name in names:
        candidate = getattr(module, name, None)
        if isinstance(candidate, type) and issubclass(candidate, models.Model) and not candidate._meta.abstract:
            return candidate
    return None


def _field_names(model) -> set[str]:
    return {f.name for f in model._meta.get_fields()}


def _for_system(model, system, *, org_default: bool = True):
    """Return the model's newest row for `system`, else (with `org_default`) the organisation's default (system NULL)."""
    names = _field_names(model)
    rows = model.objects.filter(organization_id=system.organization_id) if "organization" in names else None
    if rows is None:
        return []
    order = [f"-{n}" for n in ("verified_at", "created", "updated") if n in names] + ["-pk"]
    if "system" in names:
        own = list(rows.filter(system=system).order_by(*order)[:1])
        return own or (list(rows.filter(system__isnull=True).order_by(*order)[:1]) if org_default else [])
    return list(rows.order_by(*order)[:1])


def _layers_of(policy) -> dict[str, bool]:
    names = _field_names(type(policy))
    layers = getattr(policy, "layers", None) if "layers" in names else None
    if isinstance(layers, dict):
        return {k: bool(layers.get(k)) for k in LAYER_FIELDS}
    if isinstance(layers, list | tuple):
        return {k: k in layers for k in LAYER_FIELDS}
    return {layer: any(bool(getattr(policy, n)) for n in candidates if n in names)
            for layer, candidates in LAYER_FIELDS.items()}


def _report_of(sample) -> dict[str, Any] | None:
    for name in REPORT_FIELDS:
        value = getattr(sample, name, None)
        if isinstance(value, dict) and value:
            return value
    return None


def load(system) -> WatermarkEvidence:
    """Return the watermark evidence of `system`; `available` is False while the app has no such models."""
    try:
        module = importlib.import_module("watermark.models")
    except ImportError:
        return WatermarkEvidence(available=False)
    policy_model, sample_model = _model(module, POLICY_MODELS), _model(module, SAMPLE_MODELS)
    if policy_model is None or sample_model is None:
        return WatermarkEvidence(available=False)
    out = WatermarkEvidence(available=True)
    policies = _for_system(policy_model, system)
    if policies:
        out.policy = _layers_of(policies[0])
        out.policy_ref = {"kind": "watermark_policy", "id": policies[0].pk, "layers": out.policy}
    samples = _for_system(sample_model, system, org_default=False)  # a sample must be this system's output
    if samples and _report_of(samples[0]) is not None:
        out.sample = _report_of(samples[0])
        when = next((getattr(samples[0], n) for n in ("verified_at", "created") if hasattr(samples[0], n)), None)
        out.sample_ref = {"kind": "watermark_sample", "id": samples[0].pk,
                          "verified_at": when.isoformat() if when else None}
    return out


def layer_shown(layer: str, report: dict[str, Any]) -> tuple[bool, str]:
    """Return whether a verify report (WATERMARK.md "Verify") shows `layer`, and a one-line note."""
    if layer == "explicit":
        e = report.get("explicit") or {}
        ratio = e.get("height_ratio")
        ok = bool(e.get("recorded")) and isinstance(ratio, int | float) and ratio >= MIN_LABEL_HEIGHT
        return ok, f"explicit label {e.get('text', '')!s} height {ratio if ratio is not None else '?'} (needs ≥ 0.05)"
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
