"""One policy version compiled: rules, classifier and thresholds → a verdict per text. No Django.

Scores: a rule that matches gives its category 1.0; the classifier gives its probability; a
category's score is the higher of the two, and it is flagged when the score reaches the policy's
threshold for it. The action says what a flag does: `flag` reports it, `block` refuses the text,
`mask` replaces personal information by asterisks (other flags are reported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from . import rules
from .choices import CATEGORIES, CATEGORY_RISK, Outcome, PolicyAction

DEFAULT_THRESHOLD = 0.5


@dataclass
class Verdict:
    flagged: bool
    categories: dict[str, bool]
    scores: dict[str, float]
    hits: list[rules.Hit]
    risks: list[str]
    outcome: str
    masked: str | None = None

    @property
    def flagged_categories(self) -> list[str]:
        return [c for c, on in self.categories.items() if on]


@dataclass
class Engine:
    index: rules.KeywordIndex | None
    pii_kinds: Sequence[str] = ()
    classifier: object | None = None  # classifier.LinearClassifier
    thresholds: dict[str, float] = field(default_factory=dict)
    action: str = PolicyAction.FLAG

    def check(self, texts: Sequence[str]) -> list[Verdict]:
        """Return the verdict on each text."""
        model_scores = self.classifier.scores(texts) if self.classifier is not None and texts else [{}] * len(texts)
        return [self._verdict(text, extra) for text, extra in zip(texts, model_scores, strict=True)]

    def _verdict(self, text: str, model_scores: dict[str, float]) -> Verdict:
        hits = rules.check(text, self.index, self.pii_kinds).hits
        scores = {c: float(model_scores.get(c, 0.0)) for c in CATEGORIES}
        for h in hits:
            scores[h.category] = 1.0
        categories = {c: scores[c] >= self.thresholds.get(c, DEFAULT_THRESHOLD) for c in CATEGORIES}
        flagged = any(categories.values())
        risks = sorted({h.risk for h in hits if h.risk and categories.get(h.category)}
                       | {CATEGORY_RISK[c] for c, on in categories.items()
                          if on and not any(h.category == c for h in hits)})
        outcome, masked = Outcome.FLAGGED if flagged else Outcome.ALLOWED, None
        if flagged and self.action == PolicyAction.BLOCK:
            outcome = Outcome.BLOCKED
        elif self.action == PolicyAction.MASK:
            pii_hits = [h for h in hits if h.type == "pii"]
            if pii_hits:
                masked, outcome = rules.mask(text, pii_hits), Outcome.MASKED
        return Verdict(flagged, categories, {c: round(s, 6) for c, s in scores.items()}, hits, risks, outcome, masked)
