"""Run every catalog metric on one model and dataset; validate the audit config.

`run_audit` builds one `AuditState`, so the intermediates several metrics need (probabilities,
losses, attributions, adversarial examples, surrogates) are computed once, on one device, from
one seed. It reports progress after each metric and checks for cancellation between metrics.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from audit.metrics.base import AuditContext, AuditData, AuditModel
from audit.metrics.catalog import CATALOG, NOT_APPLICABLE, dimension_scores, status_for, thresholds_used
from audit.metrics.state import AuditState, MetricOutcome

__all__ = ["run_audit", "validate_config", "AuditCancelled", "DEFAULTS"]

INFIDELITY_SAMPLES_DEFAULT = 10  # captum.metrics.infidelity's default n_perturb_samples

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "epsilon": None,  # 0.1 standardised (tabular) or 8/255 (images), resolved by validate_config
    "pgd_steps": 20,
    "noise_sigma": None,  # 0.1 (tabular) or 0.05 (images)
    "noise_draws": 3,
    "ig_steps": 50,
    "ig_rows": 1000,
    "sensitivity_rows": 200,
    "sensitivity_samples": 10,
    "sensitivity_radius": 0.02,
    "infidelity_sigma": 0.1,
    "infidelity_samples": INFIDELITY_SAMPLES_DEFAULT,
    "surrogate_depth": 5,
    "surrogate_rows": 20000,
    "mia_rows": 5000,
    "poisoning_rows": 2000,
    "min_group_size": 1,
    "bins": {},
    "sensitive_attributes": None,  # None: every declared attribute
    "batch_size": 8192,
    "n_boot": 200,  # bootstrap replicates of the 95 % intervals (0: none)
    "query_budget": 100,  # ROB-02 black-box refinement: queries per row against the real model (0: none)
    # Rows of each split whose model inputs the audit holds: beyond this, the input metrics (ROB-*,
    # EXPL-*, PRIV-01, DATA-03) read a seeded sample and FAIR-* and the accuracies still read every row.
    "input_rows": 200_000,
}
_INTS_MIN_0 = ("n_boot", "query_budget")
_INTS_MIN_1 = ("pgd_steps", "noise_draws", "ig_steps", "ig_rows", "sensitivity_rows", "sensitivity_samples",
               "infidelity_samples", "surrogate_depth", "surrogate_rows", "mia_rows", "poisoning_rows",
               "min_group_size", "batch_size", "input_rows")
_POSITIVE_FLOATS = ("epsilon", "noise_sigma", "sensitivity_radius", "infidelity_sigma")
# Upper bounds: every knob that sets how much work an audit does is bounded, so that one request
# cannot hold a worker for days (pgd_steps=10**9) or ask for more memory than a machine has.
MAXIMA: dict[str, int | float] = {
    "seed": 2**32 - 1,
    "pgd_steps": 1_000,
    "noise_draws": 100,
    "ig_steps": 1_000,
    "ig_rows": 20_000,
    "sensitivity_rows": 10_000,
    "sensitivity_samples": 1_000,
    "infidelity_samples": 1_000,
    "surrogate_depth": 64,
    "surrogate_rows": 1_000_000,
    "mia_rows": 1_000_000,
    "poisoning_rows": 100_000,
    "min_group_size": 1_000_000,
    "batch_size": 262_144,
    "n_boot": 10_000,
    "query_budget": 10_000,
    "input_rows": 10_000_000,
    "epsilon": 100.0,
    "noise_sigma": 100.0,
    "sensitivity_radius": 100.0,
    "infidelity_sigma": 100.0,
}
MAX_BINNED_ATTRIBUTES = 100
MAX_BIN_EDGES = 1_000
MAX_SENSITIVE_ATTRIBUTES = 1_000

CONFIG_TYPE_ERROR = "Audit config must be a dict; got {}."
UNKNOWN_KEY_ERROR = "Unknown audit config key(s): {}. Known keys: {}."
INT_ERROR = "Audit config {!r} must be an integer >= {}; got {!r}."
FLOAT_ERROR = "Audit config {!r} must be a finite number > 0; got {!r}."
MAX_ERROR = "Audit config {!r} must be at most {}; got {!r}."
BINS_ERROR = "Audit config 'bins' must map attribute names to strictly increasing lists of numbers; got {!r}."
ATTRIBUTES_ERROR = "Audit config 'sensitive_attributes' must be a list of attribute names or null; got {!r}."
UNKNOWN_ATTRIBUTE_ERROR = "Sensitive attribute(s) {} not in the data; declared: {}."
EMPTY_EVAL_ERROR = "The audit needs evaluation rows; x_eval is empty."
SHAPE_ERROR = "{} has {} rows but {} has {}."
UNKNOWN_DEVICE_ERROR = "Unknown device {!r}: expected 'cpu', 'cuda' or 'cuda:N'."


class AuditCancelled(Exception):
    """Raised between metrics when `should_cancel()` returns True."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool) and math.isfinite(value)


def validate_config(config: dict[str, Any] | None = None, *, image: bool = False) -> dict[str, Any]:
    """Return the full audit config with defaults filled in; raise ValueError on nonsense.

    `image` picks the pixel-space defaults of ε (8/255) and the noise σ (0.05).
    """
    config = {} if config is None else config
    if not isinstance(config, dict):
        raise ValueError(CONFIG_TYPE_ERROR.format(type(config).__name__))
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ValueError(UNKNOWN_KEY_ERROR.format(", ".join(unknown), ", ".join(DEFAULTS)))
    out = {**DEFAULTS, **config}
    out["epsilon"] = (8 / 255 if image else 0.1) if out["epsilon"] is None else out["epsilon"]
    out["noise_sigma"] = (0.05 if image else 0.1) if out["noise_sigma"] is None else out["noise_sigma"]
    if not _is_int(out["seed"]) or out["seed"] < 0:
        raise ValueError(INT_ERROR.format("seed", 0, out["seed"]))
    for key in _INTS_MIN_1:
        if not _is_int(out[key]) or out[key] < 1:
            raise ValueError(INT_ERROR.format(key, 1, out[key]))
    for key in _INTS_MIN_0:
        if not _is_int(out[key]) or out[key] < 0:
            raise ValueError(INT_ERROR.format(key, 0, out[key]))
    for key in _POSITIVE_FLOATS:
        if not _is_number(out[key]) or out[key] <= 0:
            raise ValueError(FLOAT_ERROR.format(key, out[key]))
    for key, most in MAXIMA.items():
        if out[key] > most:
            raise ValueError(MAX_ERROR.format(key, f"{most:,}" if isinstance(most, int) else f"{most:g}", out[key]))
    out["bins"] = _validate_bins(out["bins"])
    attrs = out["sensitive_attributes"]
    if attrs is not None and (not isinstance(attrs, list | tuple) or not all(isinstance(a, str) for a in attrs)):
        raise ValueError(ATTRIBUTES_ERROR.format(attrs))
    if attrs is not None and len(attrs) > MAX_SENSITIVE_ATTRIBUTES:
        raise ValueError(MAX_ERROR.format("sensitive_attributes", f"{MAX_SENSITIVE_ATTRIBUTES:,} names", len(attrs)))
    out["sensitive_attributes"] = None if attrs is None else list(attrs)
    return {k: (int(v) if _is_int(v) else float(v) if isinstance(v, float | np.floating) else v) for k, v in out.items()}


def _validate_bins(bins: Any) -> dict[str, list[float]]:
    if not isinstance(bins, dict):
        raise ValueError(BINS_ERROR.format(bins))
    if len(bins) > MAX_BINNED_ATTRIBUTES:
        raise ValueError(MAX_ERROR.format("bins", f"{MAX_BINNED_ATTRIBUTES} attributes", len(bins)))
    longest = max((len(edges) for edges in bins.values() if isinstance(edges, list | tuple)), default=0)
    if longest > MAX_BIN_EDGES:
        raise ValueError(MAX_ERROR.format("bins", f"{MAX_BIN_EDGES:,} edges per attribute", longest))
    for name, edges in bins.items():
        if (not isinstance(name, str) or not isinstance(edges, list | tuple) or not edges
                or not all(_is_number(e) for e in edges) or np.any(np.diff(edges) <= 0)):
            raise ValueError(BINS_ERROR.format(bins))
    return {name: [float(e) for e in edges] for name, edges in bins.items()}


def _check_data(data: AuditData, config: dict[str, Any]) -> None:
    if len(data.x_eval) == 0:
        raise ValueError(EMPTY_EVAL_ERROR)
    for x_name, y_name in (("x_train", "y_train"), ("x_eval", "y_eval")):
        x, y = getattr(data, x_name), getattr(data, y_name)
        if len(x) != len(y):
            raise ValueError(SHAPE_ERROR.format(x_name, len(x), y_name, len(y)))
    chosen = config["sensitive_attributes"] or []
    missing = [a for a in chosen if a not in data.sensitive_eval or a not in data.sensitive_train]
    if missing:
        raise ValueError(UNKNOWN_ATTRIBUTE_ERROR.format(missing, sorted(data.sensitive_eval)))


def _resolve_device(device: str | None) -> str:
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(UNKNOWN_DEVICE_ERROR.format(device))
    return device


def run_audit(
    model: AuditModel,
    data: AuditData,
    config: dict[str, Any] | None = None,
    *,
    context: AuditContext | None = None,
    progress: Callable[[int, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Return the audit result: {"config", "metrics", "dimensions", "timings", "device"}.

    Each metric entry is {"value", "status", "reason", "details", "duration_s"}; a metric that
    does not apply has status "not_applicable" and a reason. `progress(percent, metric_id)` is
    called after every metric; `should_cancel()` is checked before each and raises
    `AuditCancelled`. The same inputs and seed give the same numbers on the same device.
    """
    config = validate_config(config, image=data.image)
    _check_data(data, config)
    device = _resolve_device(device)
    state = AuditState(model, data, config, context=context, device=device)
    overrides = (context.thresholds or {}) if context is not None else {}
    started, metrics, durations = time.perf_counter(), {}, {}
    for i, spec in enumerate(CATALOG.values()):
        if should_cancel is not None and should_cancel():
            raise AuditCancelled(f"audit cancelled before {spec.id}")
        t0 = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            outcome = spec.compute(state)
        durations[spec.id] = time.perf_counter() - t0
        metrics[spec.id] = _entry(spec.id, outcome, overrides.get(spec.id), durations[spec.id],
                                  assumed=spec.uses_training and data.training_assumed)
        if progress is not None:
            progress(round(100 * (i + 1) / len(CATALOG)), spec.id)
    statuses = {k: v["status"] for k, v in metrics.items()}
    used = thresholds_used(overrides)
    informational = {k for k, v in used.items() if v.get("informational")}
    for metric_id in informational:
        metrics[metric_id]["informational"] = True
    return {"config": config, "metrics": metrics, "dimensions": dimension_scores(statuses, informational),
            "baseline": (base := baseline(state)), "trivial_model": base["trivial_model"],
            "thresholds": used, "samples": dict(state.samples),
            "timings": {"total_s": time.perf_counter() - started, "metrics_s": durations}, "device": device}


def baseline(state: AuditState) -> dict[str, Any]:
    """Return the model's evaluation accuracy against always predicting the training majority class.

    A model that does not beat the majority class is flagged `trivial_model`: several metrics
    (FAIR-01, ROB-01, …) pass vacuously on a model that predicts one class for everyone.
    """
    counts = np.bincount(state.data.y_train, minlength=state.n_classes) if len(state.data.y_train) else \
        np.bincount(state.population_y, minlength=state.n_classes)
    majority = int(np.argmax(counts))
    majority_accuracy = float(np.mean(state.population_y == majority))
    accuracy = state.accuracy_population
    predicted = np.bincount(state.population_yhat, minlength=state.n_classes)
    return {"accuracy": accuracy, "majority_class": state.model.classes[majority],
            "majority_accuracy": majority_accuracy, "predicted_classes": int((predicted > 0).sum()),
            "trivial_model": bool(accuracy <= majority_accuracy + 1e-12)}


def _entry(metric_id: str, outcome: MetricOutcome, override: dict | None, duration: float, *, assumed: bool) -> dict:
    details = dict(outcome.details)
    if assumed:
        details["training_data"] = "assumed: the train split is taken as the model's training data"
    value = outcome.value
    if value is not None and not math.isfinite(value):
        details.setdefault("note", f"non-finite value ({value})")
        value = None
    if outcome.reason is not None:
        status = NOT_APPLICABLE
    else:
        status = outcome.status or status_for(metric_id, value, override)
    return {"value": value, "status": status, "reason": outcome.reason, "details": _jsonable(details),
            "duration_s": duration}


def _jsonable(obj: Any) -> Any:
    """Return `obj` with numpy scalars turned into Python numbers and non-finite floats into None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj
