"""Choices and the fixed vocabularies of moderation: categories, GB/T 45654 risk codes, actions."""

from django.db import models

# The hazard categories of moderation APIs (GENAI.md) that every result reports.
CATEGORIES = ("violence", "self-harm", "sexual", "hate", "harassment", "illicit", "privacy")

# GB/T 45654-2025 Appendix A (as TC260-003 Appendix A), Assay's codes: 5 categories, 31 risks.
RISKS = (
    [f"A.1.{i}" for i in range(1, 9)] + [f"A.2.{i}" for i in range(1, 10)] + [f"A.3.{i}" for i in range(1, 6)]
    + [f"A.4.{i}" for i in range(1, 8)] + ["A.5.1", "A.5.2"]
)

# The category an entry gets from its risk code when its file names none.
RISK_CATEGORY = {
    "A.1.1": "illicit", "A.1.2": "illicit", "A.1.3": "illicit", "A.1.4": "violence", "A.1.5": "hate",
    "A.1.6": "violence", "A.1.7": "illicit", "A.1.8": "illicit",
    **{f"A.2.{i}": "hate" for i in range(1, 10)},
    **{f"A.3.{i}": "illicit" for i in range(1, 6)},
    "A.4.1": "self-harm", "A.4.2": "harassment", "A.4.3": "harassment", "A.4.4": "privacy", "A.4.5": "privacy",
    "A.4.6": "privacy", "A.4.7": "harassment", "A.5.1": "illicit", "A.5.2": "illicit",
}

# The risk a category's flag stands for when no rule named one (a classifier score).
CATEGORY_RISK = {"violence": "A.1.6", "self-harm": "A.4.1", "sexual": "A.1.6", "hate": "A.1.5",
                 "harassment": "A.4.3", "illicit": "A.1.8", "privacy": "A.4.4"}


class PolicyAction(models.TextChoices):
    FLAG = "flag", "Flag (report only)"
    BLOCK = "block", "Block"
    MASK = "mask", "Mask personal information"


class Outcome(models.TextChoices):
    ALLOWED = "allowed", "Allowed"
    FLAGGED = "flagged", "Flagged"
    BLOCKED = "blocked", "Blocked"
    MASKED = "masked", "Masked"


class DecisionSource(models.TextChoices):
    API = "api", "API"
    GATEWAY_PROMPT = "gateway_prompt", "Gateway prompt"
    GATEWAY_ANSWER = "gateway_answer", "Gateway answer"
    COMMAND = "command", "Command line"
    DASHBOARD = "dashboard", "Dashboard"
