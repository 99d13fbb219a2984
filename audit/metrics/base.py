"""The inputs of an audit, as plain arrays: what the metric engine needs and nothing of Django.

The engine works in one numeric *design matrix* per split: one row per example, one float column
per model input after encoding (for a zoo model: one-hot and standardised columns; for a black-box
model with named columns: the raw columns, categorical ones as integer codes). A model adapter
(`audit.modelio`) builds these matrices and knows how to turn them back into what the model takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["AuditModel", "AuditData", "AuditContext"]


@dataclass
class AuditModel:
    """A loaded classifier, seen through the design matrix.

    Attributes:
        format: "torch-zoo", "torch-export", "onnx" or "sklearn".
        classes: class values (strings), index i = class i of the probability columns.
        predict_proba: design matrix (n, p) float -> probabilities (n, k), rows summing to 1.
            None when the model only gives labels (then `predict` is set).
        predict: design matrix -> class indices (n,). Always set.
        torch_module: for differentiable formats, a `torch.nn.Module` mapping a float32 tensor
            of the design matrix to logits (n, k); None for black-box formats.
        representations: design matrix -> penultimate-layer activations (zoo models), or None.
        outputs: "logits" (torch) or "probabilities" (black box): what attributions target.
    """

    format: str
    classes: list[str]
    predict: Callable[[np.ndarray], np.ndarray]
    predict_proba: Callable[[np.ndarray], np.ndarray] | None = None
    torch_module: Any = None
    representations: Callable[[np.ndarray], np.ndarray] | None = None
    outputs: str = "probabilities"

    @property
    def differentiable(self) -> bool:
        return self.torch_module is not None


@dataclass
class Population:
    """Every evaluation row, when `AuditData`'s evaluation arrays hold a sample of them.

    The metrics that read only labels and groups (FAIR-*, accuracy, the trivial-model check) use
    every row; those that need the model's inputs (ROB-*, EXPL-*, PRIV-01, DATA-03) use the sample.

    Attributes:
        y, yhat: true and predicted class indices (n,).
        sensitive: raw values of each sensitive attribute per row (n,).
        sample: the population row of each sample row (sorted), i.e. `AuditData.x_eval[i]` is row `sample[i]`.
    """

    y: np.ndarray
    yhat: np.ndarray
    sensitive: dict[str, np.ndarray]
    sample: np.ndarray


@dataclass
class AuditData:
    """Training and evaluation rows in the design-matrix space of one model.

    Attributes:
        x_train, x_eval: float64 design matrices (n, p); images as (n, C, H, W) in [0, 1].
        y_train, y_eval: true class indices (n,) into `AuditModel.classes`.
        sensitive_train, sensitive_eval: raw values of each sensitive attribute per row.
        columns: the design-matrix column names (p,).
        column_features: the raw feature each column encodes (p,); one-hot columns of one
            feature share it; attributions are summed over a feature's columns.
        categorical: bool mask (p,): columns that perturbations never touch.
        positive_index: index of the positive class.
        image: True for image inputs (pixel-space perturbations, no standardisation).
        training_assumed: True when the train split is assumed to be the model's training data.
        population: every evaluation row's labels and groups when x_eval holds a sample of them
            (more rows than the config's `input_rows`); None when x_eval holds every row.
    """

    x_train: np.ndarray
    x_eval: np.ndarray
    y_train: np.ndarray
    y_eval: np.ndarray
    sensitive_train: dict[str, np.ndarray]
    sensitive_eval: dict[str, np.ndarray]
    columns: list[str]
    column_features: list[str]
    categorical: np.ndarray
    positive_index: int = 1
    image: bool = False
    training_assumed: bool = False
    population: Population | None = None


@dataclass
class AuditContext:
    """Registry facts for the metrics that read documentation rather than numbers.

    Each is None outside the registry (e.g. `manage.py audit_file`); the metric is then
    not_applicable with the reason "not a registered model".

    Attributes:
        model_card: the model version's model-card fields (TRANS-01).
        datasheet: the training dataset version's datasheet fields (DATA-01).
        dp: for a model trained with DP: {"epsilon", "delta", "accountant", ...} (PRIV-02);
            None when the model was not trained with DP.
        registered: False outside the registry.
        audit_trail: {"chain_ok": bool, "expected": [event names], "present": [event names]}
            (TRANS-02).
        thresholds: organisation overrides {metric_id: {"pass": x, "warn": y}}.
    """

    model_card: dict | None = None
    datasheet: dict | None = None
    dp: dict | None = None
    registered: bool = False
    audit_trail: dict | None = None
    thresholds: dict = field(default_factory=dict)
