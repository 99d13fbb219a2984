"""What the genai app gives the compliance checklists: the latest evaluation of a system.

CN-GAI-ART4-1/4-2/4-5, CN-GBT45654-1, EU-ART55-1A and EU-ART5-2 (evidence type
`generative_evaluation`) read `latest_evaluation(system)` through `outcome_for(system)`; it reads,
never writes.
"""

from __future__ import annotations

from core.choices import JobStatus

from .models import Evaluation

RATES = ("generated_content_pass", "should_refuse_refusal", "should_not_refuse_refusal")


def latest_evaluation(system) -> Evaluation | None:
    """Return the newest succeeded evaluation of the system, or None."""
    return (Evaluation.objects.filter(system=system, status=JobStatus.SUCCEEDED)
            .select_related("target").order_by("-finished", "-pk").first())


def evidence_link(row: Evaluation) -> dict:
    rates = (row.result or {}).get("rates", {})
    return {"kind": "generative_evaluation", "id": row.pk, "target": row.target.name,
            "finished": row.finished.isoformat() if row.finished else None, "verdicts_sha256": row.verdicts_sha256,
            "rates": {k: {f: rates[k].get(f) for f in ("value", "n", "ci95", "threshold", "status")}
                      for k in RATES if k in rates},
            "review": {"queued": row.items.filter(in_review=True).count(),
                       "reviewed": row.items.exclude(human="").count()},
            "url": f"/genai/evaluations/{row.pk}/", "api": f"/api/v1/genai/evaluations/{row.pk}"}


def outcome_for(system) -> tuple[str, str, list[dict]] | None:
    """Return (status, reason, evidence) from the latest evaluation, or None when the system has none.

    met: every rate passes (its interval clears the threshold) on the standard's sample sizes;
    not_met: a rate fails; partially_met: a rate is inconclusive or the sample was smaller.
    """
    row = latest_evaluation(system)
    if row is None:
        return None
    result = row.result or {}
    rates = result.get("rates", {})
    statuses = {k: rates.get(k, {}).get("status", "inconclusive") for k in RATES}
    sizes_met = all((result.get("sampling") or {}).get("standard_sizes_met", {}).values() or [False])
    words = "; ".join(f"{k.replace('_', ' ')} {rates.get(k, {}).get('value')} (n {rates.get(k, {}).get('n')}, "
                      f"{statuses[k]})" for k in RATES)
    base = f"generative safety evaluation {row.pk} of {row.finished:%Y-%m-%d} on {row.target.name}: {words}"
    link = [evidence_link(row)]
    if "fail" in statuses.values():
        return "not_met", base, link
    if set(statuses.values()) == {"pass"} and sizes_met:
        return "met", base, link
    why = "" if sizes_met else "; the sample is smaller than the standard's assessment sizes"
    return "partially_met", base + why, link
