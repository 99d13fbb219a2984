"""The documentation fields TRANS-01 and DATA-01 score: the model card and the datasheet. No imports.

Kept apart from the metrics so that the registry (forms, serializers, choices) reads them without
loading NumPy or torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DATASHEET_FIELDS", "FILLED_BY_AUDIT", "MODEL_CARD_FIELDS", "NOT_REGISTERED", "is_filled"]

NOT_REGISTERED = "not a registered model"

MODEL_CARD_FIELDS = (
    "intended_purpose",
    "provider",
    "version",
    "architecture",
    "training_data",
    "evaluation_data",
    "performance",
    "limitations",
    "foreseeable_misuse",
    "human_oversight",
    "risk_management",
    "contact",
)
FILLED_BY_AUDIT = ("performance",)

DATASHEET_FIELDS = (
    "sources",
    "collection_period",
    "collection_method",
    "preprocessing",
    "labelling_method",
    "personal_data",
    "licences",
    "known_biases",
)


def is_filled(value: Any) -> bool:
    """Return True for a value that says something: not None, not blank, not an empty container."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple | dict | set):
        return bool(value)
    return True
