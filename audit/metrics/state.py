"""Shared intermediates of one audit, each computed once and reused by every metric that needs it.

`AuditState` holds the model, the data, the validated config and lazily computed arrays
(probabilities, per-example losses, attributions, adversarial examples, surrogates). A metric
function takes the state and returns a `MetricOutcome`; the engine turns outcomes into statuses.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch

from audit.metrics.base import AuditContext, AuditData, AuditModel

__all__ = ["AuditState", "MetricOutcome", "PerturbationSpace", "sample_rows"]

_PROB_EPS = 1e-12


@dataclass
class MetricOutcome:
    """What a metric function returns.

    Attributes:
        value: the metric's value; None when it is not finite or not applicable.
        details: JSON-serialisable details (tables, parameters used, notes).
        reason: set when the metric does not apply (status not_applicable).
        status: forces a status regardless of thresholds (e.g. PRIV-01 under the KS critical value).
    """

    value: float | None
    details: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class PerturbationSpace:
    """Where tabular perturbations live: per-column scale, which columns move, and the clip range.

    Attributes:
        scale: per-column unit of one perturbation step (training std; 1 for images).
        mask: 1.0 for columns that perturbations touch, 0.0 for categorical columns.
        low, high: per-column clip range (training min/max; 0/1 for images).
    """

    scale: torch.Tensor
    mask: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor

    def step(self, direction: torch.Tensor, size: float) -> torch.Tensor:
        """Return `size` standardised units along `direction` on the moving columns."""
        return direction * (size * self.scale * self.mask)

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        """Return `x` clipped to the training range."""
        return torch.clamp(x, self.low, self.high)


def sample_rows(n: int, k: int, *, seed: int) -> np.ndarray:
    """Return `min(n, k)` sorted row indices drawn without replacement with `seed`."""
    if k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


class AuditState:
    """Model, data, config and the intermediates shared by the metrics of one audit."""

    def __init__(
        self,
        model: AuditModel,
        data: AuditData,
        config: dict[str, Any],
        *,
        context: AuditContext | None = None,
        device: str = "cpu",
    ) -> None:
        self.model = model
        self.data = data
        self.config = config
        self.context = context
        self.device = torch.device(device)
        self.seed = int(config["seed"])
        self.batch_size = int(config["batch_size"])
        self.samples: dict[str, dict[str, Any]] = {}
        self.queries_used: int | None = None  # ROB-02's black-box refinement, once it has run

    def sample(self, name: str, population: int, size: int, *, offset: int) -> np.ndarray:
        """Return `sample_rows(population, size, seed=seed + offset)` and record how it was drawn.

        The result's `samples` lists every sample (seed, sizes, SHA-256 of the int64 row indices),
        so that a third party can replay each number.
        """
        rows = sample_rows(population, size, seed=self.seed + offset)
        self.samples[name] = {"seed": self.seed + offset, "population": int(population), "size": int(len(rows)),
                              "sha256": hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()}
        return rows

    # ----------------------------------------------------------------------------- model access
    @cached_property
    def module(self) -> torch.nn.Module | None:
        """The torch module on the audit device in eval mode (a copy if it had to move)."""
        module = self.model.torch_module
        if module is None:
            return None
        params = list(module.parameters())
        if params and params[0].device != self.device:
            module = copy.deepcopy(module).to(self.device)
        return module.eval()

    @cached_property
    def dtype(self) -> torch.dtype:
        params = list(self.module.parameters()) if self.module is not None else []
        return params[0].dtype if params else torch.float32

    def to_tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x), dtype=self.dtype, device=self.device)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Return the module's logits for a design-matrix tensor (differentiable models only)."""
        return self.module(x)

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Return what attributions target, per class: logits (torch) or probabilities (black box)."""
        if self.module is not None:
            return self.module(x)
        proba = self.predict_proba(x.detach().cpu().numpy().astype(np.float64))
        return torch.as_tensor(proba).to(device=x.device, dtype=x.dtype)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Return class probabilities (n, k) in batches; one-hot for label-only models."""
        if self.module is not None:
            parts = []
            with torch.inference_mode():
                for start in range(0, len(x), self.batch_size):
                    chunk = self.to_tensor(x[start : start + self.batch_size])
                    parts.append(torch.softmax(self.module(chunk), dim=1).double().cpu().numpy())
            return np.concatenate(parts) if parts else np.zeros((0, len(self.model.classes)))
        if self.model.predict_proba is not None:
            return np.asarray(self.model.predict_proba(x), dtype=np.float64)
        labels = np.asarray(self.model.predict(x), dtype=np.int64)
        return np.eye(len(self.model.classes))[labels]

    def predict_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Return predicted class indices for a batch tensor (no gradients)."""
        with torch.inference_mode():
            if self.module is not None:
                return self.module(x).argmax(dim=1)
            proba = self.predict_proba(x.detach().cpu().numpy().astype(np.float64))
            return torch.as_tensor(proba.argmax(axis=1), device=x.device)

    # ------------------------------------------------------------------------ shared predictions
    @cached_property
    def n_classes(self) -> int:
        return len(self.model.classes)

    @cached_property
    def proba_eval(self) -> np.ndarray:
        return self.predict_proba(self.data.x_eval)

    @cached_property
    def proba_train(self) -> np.ndarray:
        return self.predict_proba(self.data.x_train)

    @cached_property
    def yhat_eval(self) -> np.ndarray:
        return self.proba_eval.argmax(axis=1)

    @cached_property
    def yhat_train(self) -> np.ndarray:
        return self.proba_train.argmax(axis=1)

    @cached_property
    def accuracy_eval(self) -> float:
        return float(np.mean(self.yhat_eval == self.data.y_eval))

    @cached_property
    def accuracy_train(self) -> float:
        return float(np.mean(self.yhat_train == self.data.y_train))

    # ------------------------------------------- every evaluation row (x_eval may hold a sample of them)
    @property
    def population_y(self) -> np.ndarray:
        """True classes of every evaluation row (FAIR-*, the baseline)."""
        return self.data.population.y if self.data.population is not None else self.data.y_eval

    @property
    def population_yhat(self) -> np.ndarray:
        """Predicted classes of every evaluation row."""
        return self.data.population.yhat if self.data.population is not None else self.yhat_eval

    @property
    def population_sensitive(self) -> dict[str, np.ndarray]:
        """Sensitive values of every evaluation row."""
        return self.data.population.sensitive if self.data.population is not None else self.data.sensitive_eval

    @cached_property
    def accuracy_population(self) -> float:
        """Accuracy on every evaluation row (`accuracy_eval` is on the rows of x_eval)."""
        return float(np.mean(self.population_y == self.population_yhat))

    def losses(self, split: str) -> np.ndarray:
        """Return per-example cross-entropy −ln p_y on `split` ("train" or "eval")."""
        proba, y = (self.proba_train, self.data.y_train) if split == "train" else (self.proba_eval, self.data.y_eval)
        return -np.log(np.clip(proba[np.arange(len(y)), y], _PROB_EPS, None))

    @cached_property
    def target_classes(self) -> list[int]:
        """Classes treated as "positive" one-vs-rest: the positive class, or every class."""
        if self.n_classes == 2:
            return [int(self.data.positive_index)]
        return list(range(self.n_classes))

    # --------------------------------------------------------------------- perturbation geometry
    @cached_property
    def space(self) -> PerturbationSpace:
        """Standardisation scale, moving columns and clip range from the training rows."""
        x = self.data.x_train
        if self.data.image:
            shape = x.shape[1:]
            ones = np.ones(shape)
            return self._space(ones, ones, np.zeros(shape), ones)
        with np.errstate(invalid="ignore"):  # a column may be all missing
            std, low, high = np.nanstd(x, axis=0), np.nanmin(x, axis=0), np.nanmax(x, axis=0)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        mask = (~np.asarray(self.data.categorical, dtype=bool)).astype(np.float64)
        return self._space(std, mask, np.nan_to_num(low, nan=-np.inf), np.nan_to_num(high, nan=np.inf))

    def _space(self, scale, mask, low, high) -> PerturbationSpace:
        return PerturbationSpace(*(self.to_tensor(a) for a in (scale, mask, low, high)))

    @cached_property
    def baseline(self) -> np.ndarray:
        """The training mean (missing values left out): the attribution baseline."""
        with np.errstate(invalid="ignore"):
            return np.nan_to_num(np.nanmean(self.data.x_train, axis=0), nan=0.0)

    @cached_property
    def feature_names(self) -> list[str]:
        """Raw features in order of first appearance among the columns."""
        return list(dict.fromkeys(self.data.column_features))

    @cached_property
    def feature_matrix(self) -> np.ndarray:
        """(p, d) 0/1 matrix summing a column-level attribution into its raw feature."""
        index = {name: j for j, name in enumerate(self.feature_names)}
        g = np.zeros((len(self.data.column_features), len(self.feature_names)))
        for i, name in enumerate(self.data.column_features):
            g[i, index[name]] = 1.0
        return g

    # -------------------------------------------------------------------------- rows and fits
    @cached_property
    def attribution_rows(self) -> np.ndarray:
        """Evaluation rows used by EXPL-01/04 (the first `sensitivity_rows` serve EXPL-02/03)."""
        return self.sample("attributions", len(self.data.x_eval), self.config["ig_rows"], offset=0)

    @cached_property
    def surrogate_rows(self) -> np.ndarray:
        return self.sample("surrogates", len(self.data.x_train), self.config["surrogate_rows"], offset=1)

    def generator(self, offset: int) -> torch.Generator:
        """Return a CPU generator seeded from the audit seed plus a per-step offset."""
        return torch.Generator().manual_seed(self.seed * 1000 + offset)

    def flat(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1)

    # --------------------------------------------- intermediates the metric modules share (once each)
    # Declared here, computed by the module that defines them (imported on first use).
    @cached_property
    def attributions(self) -> torch.Tensor:
        """Column-level attributions of the attribution rows (EXPL-01/02/04)."""
        from audit.metrics.explainability import compute_attributions

        return compute_attributions(self)

    @cached_property
    def surrogate_tree(self) -> Any:
        """The depth-limited decision tree fitted to ŷ (EXPL-05)."""
        from audit.metrics.explainability import compute_surrogate_tree

        return compute_surrogate_tree(self)

    @cached_property
    def sensitive_groups_eval(self) -> dict[str, tuple[np.ndarray, list[float] | None]]:
        """{attribute: (group per evaluation row, bin edges or None)} (FAIR-*)."""
        from audit.metrics.fairness import compute_sensitive_groups

        return compute_sensitive_groups(self, "eval")

    @cached_property
    def sensitive_groups_train(self) -> dict[str, tuple[np.ndarray, list[float] | None]]:
        """{attribute: (group per training row, bin edges or None)} (DATA-02)."""
        from audit.metrics.fairness import compute_sensitive_groups

        return compute_sensitive_groups(self, "train")

    @cached_property
    def group_tables(self) -> dict[int, dict[str, Any]]:
        """{class: {attribute: (GroupTable, dropped groups)}} (FAIR-*)."""
        from audit.metrics.fairness import compute_group_tables

        return compute_group_tables(self)

    @cached_property
    def linear_surrogate(self) -> Any:
        """The logistic-regression surrogate of ŷ, or None when ŷ has one class (ROB-03, black-box attacks)."""
        from audit.metrics.robustness import compute_surrogate

        return compute_surrogate(self)

    @cached_property
    def eval_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The evaluation rows and labels as tensors on the audit device (ROB-*)."""
        from audit.metrics.robustness import compute_eval_tensors

        return compute_eval_tensors(self)

    @cached_property
    def adversarial_examples(self) -> dict[str, torch.Tensor | None]:
        """Adversarial examples of the evaluation rows by attack ("fgsm", "pgd", "transfer"), filled on first use."""
        return {}
