"""Plain-words explanations of the 23 metrics (filled in below)."""

EXPLANATIONS: dict[str, dict[str, str]] = {}


def explain(metric_id: str) -> dict[str, str] | None:
    return EXPLANATIONS.get(metric_id)
