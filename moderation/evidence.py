"""What moderation gives the compliance checklists: the latest evaluation of an organisation's policies.

CN-DS-ART10-1 ("moderation precision and recall") and the moderation items of the EU checklist read
`evidence_for(organization)`; it reads, never writes.
"""

from __future__ import annotations

from .models import ModerationEvaluation


def evidence_for(organization) -> dict | None:
    """Return the newest evaluation as evidence (policy and version, n, flagged precision/recall/F1 with
    their intervals, links), or None when the organisation has evaluated no policy."""
    evaluation = (ModerationEvaluation.objects.filter(organization=organization)
                  .select_related("policy_version__policy").order_by("-created", "-pk").first())
    if evaluation is None:
        return None
    flagged = evaluation.results.get("flagged", {})
    return {
        "kind": "moderation_evaluation", "id": evaluation.pk, "at": evaluation.created.isoformat(),
        "policy": {"id": evaluation.policy_version.policy_id, "name": evaluation.policy_version.policy.name,
                   "version": evaluation.policy_version.number},
        "n": evaluation.n, "data_sha256": evaluation.data_sha256,
        "precision": flagged.get("precision"), "recall": flagged.get("recall"), "f1": flagged.get("f1"),
        "url": f"/moderation/evaluations/{evaluation.pk}/", "api": f"/api/v1/moderation/evaluations/{evaluation.pk}",
    }
