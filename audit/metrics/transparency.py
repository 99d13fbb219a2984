"""Transparency (TRANS-01, TRANS-02): model-card completeness and audit-trail integrity."""

from __future__ import annotations

from typing import Any

from audit.metrics.documentation import FILLED_BY_AUDIT, MODEL_CARD_FIELDS, NOT_REGISTERED, is_filled
from audit.metrics.state import AuditState, MetricOutcome

__all__ = ["MODEL_CARD_FIELDS", "documentation_completeness", "audit_trail_integrity", "is_filled"]

def documentation_completeness(card: dict[str, Any]) -> tuple[float, list[str]]:
    r"""Return (share of the 12 model-card fields filled, the missing fields).

    .. math:: C = |\{f : f \text{ filled}\}| / 12

    `performance` is filled by the audit itself and always counts; 1 means a complete card.
    """
    missing = [f for f in MODEL_CARD_FIELDS if f not in FILLED_BY_AUDIT and not is_filled(card.get(f))]
    return 1 - len(missing) / len(MODEL_CARD_FIELDS), missing


def audit_trail_integrity(trail: dict[str, Any]) -> float:
    r"""Return the audit-trail integrity score.

    .. math:: T = [\text{chain verifies}] \cdot |E_{present} \cap E_{expected}| / |E_{expected}|

    1 means the hash chain verifies and holds every expected event; 0 means the chain is broken.
    """
    expected = set(trail.get("expected") or [])
    present = set(trail.get("present") or []) & expected
    share = len(present) / len(expected) if expected else 1.0
    return share if trail.get("chain_ok") else 0.0


def documentation_outcome(state: AuditState) -> MetricOutcome:
    """TRANS-01 from `AuditContext.model_card`."""
    context = state.context
    if context is None or not context.registered:
        return MetricOutcome(None, reason=NOT_REGISTERED)
    value, missing = documentation_completeness(context.model_card or {})
    return MetricOutcome(value, {"fields": len(MODEL_CARD_FIELDS), "missing": missing,
                                 "filled_by_audit": list(FILLED_BY_AUDIT)})


def audit_trail_outcome(state: AuditState) -> MetricOutcome:
    """TRANS-02 from `AuditContext.audit_trail`."""
    context = state.context
    if context is None or not context.registered:
        return MetricOutcome(None, reason=NOT_REGISTERED)
    if context.audit_trail is None:
        return MetricOutcome(None, reason="no audit trail recorded for this model version")
    trail = context.audit_trail
    expected = list(trail.get("expected") or [])
    missing = [e for e in expected if e not in set(trail.get("present") or [])]
    return MetricOutcome(audit_trail_integrity(trail), {"chain_ok": bool(trail.get("chain_ok")),
                                                        "expected": expected, "missing": missing})
