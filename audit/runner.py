"""Turn a loaded model and two data frames into an audit and its Result JSON (no Django).

Shared by the Celery job, `manage.py run_audit` and `manage.py audit_file`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd

from .datasets import Schema
from .metrics.base import AuditContext, AuditData

ASSAY_VERSION = "0.1.0"


@dataclass
class Prepared:
    """Everything an audit needs, loaded once."""

    model: object  # audit.modelio LoadedModel
    data: AuditData
    positive_class: str
    load_s: float


def _class_indices(values: pd.Series, classes: list[str], where: str) -> np.ndarray:
    from .modelio.encoder import category_key

    lookup = {str(c): i for i, c in enumerate(classes)}
    keys = pd.Series([category_key(v) for v in values], index=values.index, dtype=object).astype(str).str.strip()
    unknown = sorted(set(keys) - set(lookup))
    if unknown:
        raise ValueError(f"The {where} target holds values the model does not know: {', '.join(unknown[:5])} "
                         f"(model classes: {', '.join(map(str, classes))})")
    return keys.map(lookup).to_numpy(dtype=np.int64)


def prepare(loaded, train: pd.DataFrame, evaluation: pd.DataFrame, schema: Schema, *, started: float,
            training_assumed: bool = False) -> Prepared:
    """Return the audit inputs: design matrices, class indices and sensitive attributes."""
    classes = [str(c) for c in loaded.classes]
    positive = str(schema.positive_label)
    if positive not in classes:
        raise ValueError(f"The positive label {positive!r} is not one of the model's classes ({', '.join(classes)})")
    if len(evaluation) == 0 or len(train) == 0:
        raise ValueError("The dataset needs both training and evaluation rows")
    x_train, columns, column_features, categorical = loaded.design_matrix(train)
    x_eval, *_ = loaded.design_matrix(evaluation)
    data = AuditData(
        x_train=np.asarray(x_train, dtype=np.float64), x_eval=np.asarray(x_eval, dtype=np.float64),
        y_train=_class_indices(train[schema.target], classes, "training"),
        y_eval=_class_indices(evaluation[schema.target], classes, "evaluation"),
        sensitive_train={a: train[a].to_numpy() for a in schema.sensitive_attributes},
        sensitive_eval={a: evaluation[a].to_numpy() for a in schema.sensitive_attributes},
        columns=list(columns), column_features=list(column_features),
        categorical=np.asarray(categorical, dtype=bool), positive_index=classes.index(positive),
        training_assumed=training_assumed,
    )
    return Prepared(loaded, data, positive, time.perf_counter() - started)


def library_versions() -> dict[str, str]:
    found = {}
    for name in ("torch", "fairlearn", "captum", "opacus", "scikit-learn", "onnxruntime", "numpy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def audit(prepared: Prepared, *, model_bytes: bytes, fmt: str, config: dict | None,
          context: AuditContext | None = None, progress: Callable[[int, str], None] | None = None,
          should_cancel: Callable[[], bool] | None = None) -> dict:
    """Run every metric and return the Result JSON of METRICS.md."""
    from .metrics.engine import run_audit

    outcome = run_audit(prepared.model.to_audit_model(), prepared.data, config, context=context,
                        progress=progress, should_cancel=should_cancel)
    data = prepared.data
    return {
        "assay_version": ASSAY_VERSION,
        "model": {"format": fmt, "sha256": hashlib.sha256(model_bytes).hexdigest(),
                  "classes": [str(c) for c in prepared.model.classes], "positive_class": prepared.positive_class},
        "dataset": {"rows_train": int(len(data.y_train)), "rows_eval": int(len(data.y_eval)),
                    "sensitive_attributes": list(data.sensitive_eval)},
        "config": outcome["config"],
        "metrics": outcome["metrics"],
        "dimensions": outcome["dimensions"],
        "timings": {**outcome["timings"], "load_s": round(prepared.load_s, 4)},
        "device": outcome["device"],
        "versions": library_versions(),
    }
