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
from .metrics.base import AuditContext, AuditData, Population

ASSAY_VERSION = "0.1.0"


@dataclass
class Prepared:
    """Everything an audit needs, loaded once."""

    model: object  # audit.modelio LoadedModel
    data: AuditData
    positive_class: str
    load_s: float
    rows_dropped: dict | None = None
    samples: dict | None = None  # the input samples drawn when a split has more rows than `input_rows`
    rows_train: int | None = None  # training rows before sampling (None: all are in AuditData)


def class_indices(values: pd.Series, classes: list[str], where: str) -> np.ndarray:
    from .modelio.encoder import category_key

    lookup = {str(c): i for i, c in enumerate(classes)}
    # each distinct value is looked up once, whatever the row count
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    keys = [str(category_key(v)).strip() for v in uniques]
    unknown = sorted(set(keys) - set(lookup))
    if unknown:
        raise ValueError(f"The {where} target holds values the model does not know: {', '.join(unknown[:5])} "
                         f"(model classes: {', '.join(map(str, classes))})")
    return np.asarray([lookup[k] for k in keys], dtype=np.int64)[codes]


def class_dtype(n_classes: int) -> np.dtype:
    """The smallest integer type for class indices (an int8 per row where there are few classes)."""
    return np.dtype(np.int8 if n_classes < 128 else np.int32)


def predicted_classes(model, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Return the class the audit engine predicts for each design-matrix row (as `AuditState.yhat_eval`)."""
    import torch

    module = model.torch_module
    if module is None:
        if model.predict_proba is not None:
            return np.asarray(model.predict_proba(x), dtype=np.float64).argmax(axis=1)
        return np.asarray(model.predict(x), dtype=np.int64)
    params = list(module.parameters())
    dtype, device = (params[0].dtype, params[0].device) if params else (torch.float32, torch.device("cpu"))
    parts = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            chunk = torch.as_tensor(np.asarray(x[start : start + batch_size]), dtype=dtype, device=device)
            parts.append(torch.softmax(module.eval()(chunk), dim=1).argmax(dim=1).cpu().numpy())  # as a double, the same argmax
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def sample_record(rows: np.ndarray, population: int, seed: int) -> dict:
    """Describe a sample as `AuditState.sample` does: seed, sizes and the SHA-256 of its int64 row indices."""
    return {"seed": int(seed), "population": int(population), "size": int(len(rows)),
            "sha256": hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()}


# Seed offsets of the input samples (the engine's own samples use 0-4).
TRAIN_INPUTS_OFFSET, EVAL_INPUTS_OFFSET = 11, 10
INPUT_CHUNK_ROWS = 100_000  # rows whose design matrix is built at once when predicting every row


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def accepted_rows(loaded, frame: pd.DataFrame, features: list[str]) -> tuple[np.ndarray, dict[str, int]]:
    """Return (mask of rows the model takes, {reason: rows dropped}) for rows with missing feature values.

    Rows are tried per pattern of missing columns: a model may impute one column and refuse
    another. A pattern is dropped when the model raises on it, or for the rows where it returns
    non-finite probabilities. Rows without a missing value are never tried here.
    """
    keep = np.ones(len(frame), dtype=bool)
    dropped: dict[str, int] = {}
    present = [f for f in features if f in frame.columns]
    if not present:
        return keep, dropped
    missing = frame[present].isna().to_numpy()
    rows = np.flatnonzero(missing.any(axis=1))
    if len(rows) == 0:
        return keep, dropped
    patterns, inverse = np.unique(missing[rows], axis=0, return_inverse=True)
    for p, pattern in enumerate(patterns):
        members = rows[inverse.reshape(-1) == p]
        names = ", ".join(f for f, m in zip(present, pattern, strict=True) if m)
        try:
            x = loaded.design_matrix(frame.iloc[members])[0]
            scores = loaded.matrix_proba(x) if loaded.matrix_proba is not None else loaded.matrix_predict(x)
            bad = ~np.isfinite(np.asarray(scores, dtype=np.float64).reshape(len(members), -1)).all(axis=1)
            reason = f"missing {names}: the model gives no finite output"
        except Exception as exc:  # noqa: BLE001 - the model's refusal, whatever it raises, is the reason
            bad = np.ones(len(members), dtype=bool)
            reason = f"missing {names}: the model does not accept it ({_first_line(exc)})"
        if bad.any():
            keep[members[bad]] = False
            dropped[reason] = dropped.get(reason, 0) + int(bad.sum())
    return keep, dropped


def prepare(loaded, train: pd.DataFrame, evaluation: pd.DataFrame, schema: Schema, *, started: float,
            training_assumed: bool = False, dropped: dict[str, int] | None = None,
            config: dict | None = None) -> Prepared:
    """Return the audit inputs: design matrices, class indices and sensitive attributes.

    Rows with missing values stay when the model takes them; those it cannot take are dropped
    and counted with the reason in `Prepared.rows_dropped` (with those `dropped` before).
    With an audit `config` (not for DP training, which reads every row), a split of more than its
    `input_rows` rows keeps the model inputs of a seeded sample of them; every evaluation row's
    labels, prediction and groups go into `AuditData.population`.
    """
    classes = [str(c) for c in loaded.classes]
    positive = str(schema.positive_label)
    if positive not in classes:
        raise ValueError(f"The positive label {positive!r} is not one of the model's classes ({', '.join(classes)})")
    features = list(getattr(loaded, "features", None) or schema.features)
    rows_dropped = {"count": 0, "train": 0, "eval": 0, "reasons": dict(dropped or {})}
    for split, frame in (("train", train), ("eval", evaluation)):
        keep, reasons = accepted_rows(loaded, frame, features)
        for reason, n in reasons.items():
            rows_dropped["reasons"][reason] = rows_dropped["reasons"].get(reason, 0) + n
        rows_dropped[split] = int((~keep).sum())
        if split == "train":
            train = train[keep].reset_index(drop=True)
        else:
            evaluation = evaluation[keep].reset_index(drop=True)
    rows_dropped["count"] = sum(rows_dropped["reasons"].values())
    rows_train = len(train)
    if len(evaluation) == 0 or len(train) == 0:
        reasons = "; ".join(f"{n} rows: {r}" for r, n in rows_dropped["reasons"].items())
        raise ValueError("The dataset needs both training and evaluation rows" + (f" (dropped {reasons})" if reasons else ""))
    samples, population = {}, None
    if config is not None:
        from .metrics.engine import validate_config
        from .metrics.state import sample_rows

        settings = validate_config(config)
        input_rows, seed = settings["input_rows"], settings["seed"]
        if len(train) > input_rows:
            rows = sample_rows(len(train), input_rows, seed=seed + TRAIN_INPUTS_OFFSET)
            samples["inputs (training)"] = sample_record(rows, len(train), seed + TRAIN_INPUTS_OFFSET)
            train = train.iloc[rows].reset_index(drop=True)
        if len(evaluation) > input_rows:
            rows = sample_rows(len(evaluation), input_rows, seed=seed + EVAL_INPUTS_OFFSET)
            samples["inputs (evaluation)"] = sample_record(rows, len(evaluation), seed + EVAL_INPUTS_OFFSET)
            population = _population(loaded, evaluation, schema, classes, rows, settings["batch_size"])
            evaluation = evaluation.iloc[rows].reset_index(drop=True)
    data = audit_data(loaded, train, evaluation, schema, classes, positive, training_assumed=training_assumed,
                      population=population)
    return Prepared(loaded, data, positive, time.perf_counter() - started, rows_dropped, samples, rows_train)


def audit_data(loaded, train: pd.DataFrame, evaluation: pd.DataFrame, schema: Schema, classes: list[str],
               positive: str, *, training_assumed: bool, population: Population | None) -> AuditData:
    """Return the engine's view of the rows whose inputs are held: design matrices, class indices, groups."""
    x_train, columns, column_features, categorical = loaded.design_matrix(train)
    x_eval = loaded.design_matrix(evaluation)[0]
    return AuditData(
        x_train=np.asarray(x_train, dtype=np.float64), x_eval=np.asarray(x_eval, dtype=np.float64),
        y_train=class_indices(train[schema.target], classes, "training"),
        y_eval=class_indices(evaluation[schema.target], classes, "evaluation"),
        sensitive_train={a: train[a].to_numpy() for a in schema.sensitive_attributes},
        sensitive_eval={a: evaluation[a].to_numpy() for a in schema.sensitive_attributes},
        columns=list(columns), column_features=list(column_features),
        categorical=np.asarray(categorical, dtype=bool), positive_index=classes.index(positive),
        training_assumed=training_assumed, population=population,
    )


def predict_rows(loaded, model, frame: pd.DataFrame, kind: np.dtype, batch_size: int) -> np.ndarray:
    """Return the predicted class of every row of `frame`, building its design matrix `INPUT_CHUNK_ROWS` at a time."""
    yhat = np.empty(len(frame), dtype=kind)
    for start in range(0, len(frame), INPUT_CHUNK_ROWS):
        x = loaded.design_matrix(frame.iloc[start : start + INPUT_CHUNK_ROWS])[0]
        yhat[start : start + len(x)] = predicted_classes(model, x, batch_size)
    return yhat


def _population(loaded, evaluation: pd.DataFrame, schema: Schema, classes: list[str], sample: np.ndarray,
                batch_size: int) -> Population:
    """Return every evaluation row's class, predicted class and groups, predicting in bounded chunks."""
    kind = class_dtype(len(classes))
    yhat = predict_rows(loaded, loaded.to_audit_model(), evaluation, kind, batch_size)
    return Population(y=class_indices(evaluation[schema.target], classes, "evaluation").astype(kind), yhat=yhat,
                      sensitive={a: evaluation[a].to_numpy() for a in schema.sensitive_attributes}, sample=sample)


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
    outcome["samples"] = {**(prepared.samples or {}), **outcome["samples"]}
    dropped = prepared.rows_dropped or {}
    if dropped.get("count"):
        for entry in outcome["metrics"].values():
            entry["details"]["rows_dropped"] = {"count": dropped["count"], "reasons": dropped["reasons"]}
    data = prepared.data
    return {
        "assay_version": ASSAY_VERSION,
        "model": {"format": fmt, "sha256": hashlib.sha256(model_bytes).hexdigest(),
                  "classes": [str(c) for c in prepared.model.classes], "positive_class": prepared.positive_class},
        "dataset": {"rows_train": int(prepared.rows_train or len(data.y_train)),
                    "rows_eval": int(len(data.population.y) if data.population is not None else len(data.y_eval)),
                    "input_rows": {"train": int(len(data.y_train)), "eval": int(len(data.y_eval))},
                    "sensitive_attributes": list(data.sensitive_eval),
                    "rows_dropped": prepared.rows_dropped or {"count": 0, "train": 0, "eval": 0, "reasons": {}}},
        "config": outcome["config"],
        "metrics": outcome["metrics"],
        "dimensions": outcome["dimensions"],
        "baseline": outcome["baseline"],
        "trivial_model": outcome["trivial_model"],
        "thresholds": outcome["thresholds"],
        "samples": outcome["samples"],
        "timings": {**outcome["timings"], "load_s": round(prepared.load_s, 4)},
        "device": outcome["device"],
        "versions": library_versions(),
    }
