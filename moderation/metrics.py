"""How well a policy moderates a labelled set: precision, recall and F1 per category with Wilson
intervals, a confusion table, the misclassified items. No Django.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054
MAX_MISCLASSIFIED = 200


def wilson(successes: int, n: int, *, z: float = Z95) -> list[float] | None:
    """Return the Wilson score interval [low, high] of a proportion successes/n, or None when n is 0.

    .. math:: \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    Unlike the normal approximation it stays inside [0, 1] and is usable for small n and for
    proportions of 0 or 1.
    """
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie between 0 and n ({n}), got {successes}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return [round(max(0.0, centre - half), 6), round(min(1.0, centre + half), 6)]


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


def category_scores(tp: int, fp: int, fn: int, tn: int) -> dict:
    """Return precision, recall and F1 (None where undefined), each proportion with its Wilson interval."""
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = round(2 * precision * recall / (precision + recall), 6) if precision and recall else (
        0.0 if precision is not None and recall is not None else None)
    return {
        "tp": tp, "fp": fp, "fn": fn, "tn": tn, "support": tp + fn,
        "precision": {"value": precision, "n": tp + fp, "ci95": wilson(tp, tp + fp)},
        "recall": {"value": recall, "n": tp + fn, "ci95": wilson(tp, tp + fn)},
        "f1": f1,
    }


def evaluate(expected: Sequence[set[str]], predicted: Sequence[set[str]], categories: Sequence[str], *,
             texts: Sequence[str] | None = None, ids: Sequence[str] | None = None) -> dict:
    """Compare expected and predicted category sets item by item.

    `by_category` has the counts and scores of each category; `flagged` treats "any category" as
    one binary label (what a block decision sees); `confusion` counts, for each expected category
    (or "none"), the predicted categories (or "none"); `misclassified` lists the items whose
    predicted set differs from the expected one (at most MAX_MISCLASSIFIED).
    """
    if len(expected) != len(predicted):
        raise ValueError("expected and predicted must have the same length")
    if not expected:
        raise ValueError("the labelled set is empty")
    by_category = {}
    for c in categories:
        tp = sum(1 for e, p in zip(expected, predicted, strict=True) if c in e and c in p)
        fp = sum(1 for e, p in zip(expected, predicted, strict=True) if c not in e and c in p)
        fn = sum(1 for e, p in zip(expected, predicted, strict=True) if c in e and c not in p)
        by_category[c] = category_scores(tp, fp, fn, len(expected) - tp - fp - fn)
    any_e, any_p = [bool(e) for e in expected], [bool(p) for p in predicted]
    tp = sum(a and b for a, b in zip(any_e, any_p, strict=True))
    fp = sum(b and not a for a, b in zip(any_e, any_p, strict=True))
    fn = sum(a and not b for a, b in zip(any_e, any_p, strict=True))
    confusion: dict[str, dict[str, int]] = {}
    for e, p in zip(expected, predicted, strict=True):
        for ec in sorted(e) or ["none"]:
            row = confusion.setdefault(ec, {})
            for pc in sorted(p) or ["none"]:
                row[pc] = row.get(pc, 0) + 1
    wrong = []
    for i, (e, p) in enumerate(zip(expected, predicted, strict=True)):
        if e != p and len(wrong) < MAX_MISCLASSIFIED:
            wrong.append({"index": i, "id": ids[i] if ids else str(i + 1),
                          "text": texts[i] if texts else None,
                          "expected": sorted(e), "predicted": sorted(p),
                          "missed": sorted(e - p), "extra": sorted(p - e)})
    return {"n": len(expected), "by_category": by_category,
            "flagged": category_scores(tp, fp, fn, len(expected) - tp - fp - fn),
            "confusion": confusion, "misclassified": wrong,
            "misclassified_total": sum(1 for e, p in zip(expected, predicted, strict=True) if e != p)}
