"""Group fairness (FAIR-01 … FAIR-06) from one confusion-count pass per sensitive attribute.

The group layer is separate from the metrics: `group_confusion` counts, per group, the true and
false positives and negatives with one `np.bincount`; each metric is a function of that table.
The definitions and their edge cases follow fairlearn (`demographic_parity_difference`,
`demographic_parity_ratio`, `equalized_odds_difference`, `MetricFrame` with sklearn's
`confusion_matrix(normalize="true")`, which reads a rate with an empty denominator as 0).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.metrics.catalog import SMALL_GROUP_ROWS
from audit.metrics.state import AuditState, MetricOutcome
from audit.metrics.uncertainty import cell_bootstrap, rng_for

__all__ = [
    "GroupTable",
    "group_confusion",
    "encode_groups",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "group_performance_difference_rate",
    "bias_propagation_coefficient",
    "LABEL_GAP_MIN",
    "MAX_DISTINCT_UNBINNED",
]

EMPTY_INPUT_ERROR = "Empty input: the fairness metrics need at least one row."
LENGTH_MISMATCH_ERROR = "y_true, y_pred and sensitive_features must have the same length; got {}."
NON_BINARY_ERROR = "y_true and y_pred must be binary (0/1) here; got values {}."
ONE_GROUP_ERROR = "Only one group ({!r}) in the sensitive feature: a group comparison needs at least two."
ONE_CLASS_ERROR = "y_true holds a single class ({}): TPR and FPR gaps need both classes."
BIN_EDGES_ERROR = "Bins for {!r} must be a strictly increasing list of numbers; got {!r}."

LABEL_GAP_MIN = 1e-6
MAX_DISTINCT_UNBINNED = 10


@dataclass(frozen=True)
class GroupTable:
    """Confusion counts per group (binary task, positive = 1).

    Attributes:
        groups: group labels (g,), as strings.
        tp, fp, tn, fn: integer counts per group (g,).
        overall_accuracy: accuracy on all rows given to `group_confusion`, dropped groups included.
    """

    groups: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    tn: np.ndarray
    fn: np.ndarray
    overall_accuracy: float

    @property
    def n(self) -> np.ndarray:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def selection_rate(self) -> np.ndarray:
        return (self.tp + self.fp) / self.n

    @property
    def label_rate(self) -> np.ndarray:
        return (self.tp + self.fn) / self.n

    @property
    def tpr(self) -> np.ndarray:
        return _rate(self.tp, self.tp + self.fn)

    @property
    def fpr(self) -> np.ndarray:
        return _rate(self.fp, self.fp + self.tn)

    @property
    def accuracy(self) -> np.ndarray:
        return (self.tp + self.tn) / self.n

    def to_dict(self) -> dict[str, dict[str, float | int]]:
        """Return the per-group table for the result details."""
        columns = {"n": self.n, "selection_rate": self.selection_rate, "tpr": self.tpr,
                   "fpr": self.fpr, "accuracy": self.accuracy, "label_rate": self.label_rate}
        return {
            str(g): {k: (int(v[i]) if k == "n" else float(v[i])) for k, v in columns.items()}
            for i, g in enumerate(self.groups)
        }


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Return num / den with 0 where den is 0 (sklearn's `nan_to_num` on normalised counts)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def encode_groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (group labels as strings, integer code per row)."""
    import pandas as pd

    values = np.asarray(values)
    if values.dtype.kind == "U":
        labels, codes = np.unique(values, return_inverse=True)
        return labels, codes.reshape(-1)
    # Hash the rows' values once (linear), then sort the few distinct ones as text: the same labels
    # and codes as np.unique(values.astype(str)) without a fixed-width text copy of every row.
    first, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.asarray(uniques).astype(str)
    missing = first < 0
    if missing.any():  # None and NaN stay apart ("None", "nan"), as their text differs
        extra, extra_codes = np.unique(values[missing].astype(str), return_inverse=True)
        first = first.copy()
        first[missing] = len(texts) + extra_codes.reshape(-1)
        texts = np.concatenate([texts, extra])
    labels, merged = np.unique(texts, return_inverse=True)
    return labels, merged.reshape(-1).astype(np.int32 if len(labels) < 2**31 else np.int64)[first]


def group_confusion(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    sensitive_features: np.ndarray,
    *,
    min_group_size: int = 1,
) -> tuple[GroupTable, dict[str, int]]:
    """Return the per-group confusion table and the groups left out for having < `min_group_size` rows.

    One pass: each row falls into bin ``4·group + 2·y + ŷ`` of a single `np.bincount`.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    sensitive_features = np.asarray(sensitive_features)
    _check_inputs(y_true, y_pred, sensitive_features)
    labels, codes = encode_groups(sensitive_features)
    cells = 4 * codes + 2 * y_true.astype(np.int64) + y_pred.astype(np.int64)
    counts = np.bincount(cells, minlength=4 * len(labels)).reshape(len(labels), 4)
    keep = counts.sum(axis=1) >= min_group_size
    dropped = {str(g): int(n) for g, n in zip(labels[~keep], counts[~keep].sum(axis=1), strict=True)}
    kept = counts[keep]
    table = GroupTable(labels[keep], tn=kept[:, 0], fp=kept[:, 1], fn=kept[:, 2], tp=kept[:, 3],
                       overall_accuracy=float(np.mean(y_true == y_pred)))
    return table, dropped


def _check_inputs(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> None:
    if len(y_true) == 0:
        raise ValueError(EMPTY_INPUT_ERROR)
    if not len(y_true) == len(y_pred) == len(groups):
        raise ValueError(LENGTH_MISMATCH_ERROR.format((len(y_true), len(y_pred), len(groups))))
    values = np.union1d(np.unique(y_true), np.unique(y_pred))
    if not np.isin(values, [0, 1]).all():
        raise ValueError(NON_BINARY_ERROR.format(values.tolist()))


def _require_groups(table: GroupTable) -> None:
    if len(table.groups) < 2:
        raise ValueError(ONE_GROUP_ERROR.format(str(table.groups[0]) if len(table.groups) else None))


def _gap(values: np.ndarray) -> float:
    return float(values.max() - values.min())


# --------------------------------------------------------------------------- metrics on a table
def dp_difference_from_table(table: GroupTable) -> float:
    _require_groups(table)
    return _gap(table.selection_rate)


def dp_ratio_from_table(table: GroupTable) -> float:
    _require_groups(table)
    rates = table.selection_rate
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(rates.min()) / np.float64(rates.max()))


def eo_difference_from_table(table: GroupTable) -> float:
    _require_groups(table)
    return max(_gap(table.tpr), _gap(table.fpr))


def eop_difference_from_table(table: GroupTable) -> float:
    _require_groups(table)
    return _gap(table.tpr)


def performance_rate_from_table(table: GroupTable) -> float:
    _require_groups(table)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(_gap(table.accuracy)) / np.float64(table.overall_accuracy))


def bias_propagation_from_table(table: GroupTable) -> float:
    _require_groups(table)
    label_gap = _gap(table.label_rate)
    if label_gap < LABEL_GAP_MIN:
        return float("nan")
    return _gap(table.selection_rate) / label_gap


def _public(from_table: Callable[[GroupTable], float], needs_both_classes: bool = False):
    def metric(y_true: np.ndarray, y_pred: np.ndarray, *, sensitive_features: np.ndarray) -> float:
        if needs_both_classes and len(y_true) and len(np.unique(y_true)) < 2:
            raise ValueError(ONE_CLASS_ERROR.format(np.unique(y_true).tolist()))
        return from_table(group_confusion(y_true, y_pred, sensitive_features)[0])

    return metric


demographic_parity_difference = _public(dp_difference_from_table)
demographic_parity_difference.__doc__ = r"""Return max_g P(ŷ=1 | A=g) − min_g P(ŷ=1 | A=g).

.. math:: \Delta_{DP} = \max_g \Pr(\hat y = 1 \mid A = g) - \min_g \Pr(\hat y = 1 \mid A = g)

0 means every group is selected at the same rate; fairlearn `demographic_parity_difference`.
"""
demographic_parity_ratio = _public(dp_ratio_from_table)
demographic_parity_ratio.__doc__ = r"""Return min_g P(ŷ=1 | A=g) / max_g P(ŷ=1 | A=g).

.. math:: DI = \min_g \Pr(\hat y = 1 \mid A = g) / \max_g \Pr(\hat y = 1 \mid A = g)

1 means equal selection rates; below 0.8 fails the four-fifths rule. NaN when no group is selected.
"""
equalized_odds_difference = _public(eo_difference_from_table, needs_both_classes=True)
equalized_odds_difference.__doc__ = r"""Return max(TPR gap, FPR gap) across groups.

.. math:: \Delta_{EO} = \max(\max_g TPR_g - \min_g TPR_g,\ \max_g FPR_g - \min_g FPR_g)

0 means every group has the same error rates on both classes; fairlearn `equalized_odds_difference`.
"""
equal_opportunity_difference = _public(eop_difference_from_table, needs_both_classes=True)
equal_opportunity_difference.__doc__ = r"""Return max_g TPR_g − min_g TPR_g.

.. math:: \Delta_{EOp} = \max_g TPR_g - \min_g TPR_g

0 means qualified members of every group are selected at the same rate.
"""
group_performance_difference_rate = _public(performance_rate_from_table)
group_performance_difference_rate.__doc__ = r"""Return (max_g Acc_g − min_g Acc_g) / Acc_overall.

.. math:: (\max_g Acc_g - \min_g Acc_g) / Acc

0.05 means the accuracy spread across groups is 5 % of the overall accuracy.
"""
bias_propagation_coefficient = _public(bias_propagation_from_table)
bias_propagation_coefficient.__doc__ = r"""Return FAIR-01 on ŷ divided by FAIR-01 on y (same rows).

.. math:: \beta = \Delta_{DP}(\hat y) / \Delta_{DP}(y)

Above 1 the model amplifies the gap already in the labels; NaN when the label gap is < 1e-6.
"""

FROM_TABLE: dict[str, Callable[[GroupTable], float]] = {
    "FAIR-01": dp_difference_from_table,
    "FAIR-02": dp_ratio_from_table,
    "FAIR-03": eo_difference_from_table,
    "FAIR-04": eop_difference_from_table,
    "FAIR-05": performance_rate_from_table,
    "FAIR-06": bias_propagation_from_table,
}


# ------------------------------------------------------------------------- sensitive attributes
def bin_numeric(values: np.ndarray, *, edges: list[float] | None, reference: np.ndarray, name: str = "") -> tuple[np.ndarray, list[float]]:
    """Return interval labels for a numeric attribute and the edges used.

    Edges default to the quartiles of `reference` (the evaluation rows); a value v falls in
    ``[e_i, e_{i+1})``, with open ends below the first and from the last edge.
    """
    if edges is None:
        edges = np.unique(np.quantile(np.asarray(reference, dtype=np.float64), [0.25, 0.5, 0.75])).tolist()
    elif not all(isinstance(e, int | float) for e in edges) or np.any(np.diff(edges) <= 0):
        raise ValueError(BIN_EDGES_ERROR.format(name, edges))
    names = [f"<{edges[0]:g}"] + [f"[{a:g}, {b:g})" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    names.append(f">={edges[-1]:g}")
    # object labels: one reference per row, not a fixed-width text copy of each
    return np.asarray(names, dtype=object)[np.digitize(np.asarray(values, dtype=np.float64), edges)], \
        [float(e) for e in edges]


MISSING_GROUP = "(missing)"


def _missing(values: np.ndarray) -> np.ndarray:
    """Return True where a sensitive value is missing (None, NaN, or a blank string)."""
    import pandas as pd

    values = np.asarray(values)
    if values.dtype.kind in "fc":
        return np.isnan(values)
    if values.dtype.kind in "US":
        return np.char.strip(values) == ("" if values.dtype.kind == "U" else b"")
    if values.dtype.kind != "O":
        return np.zeros(len(values), dtype=bool)
    # decided once per distinct value, not once per row
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    blank = np.fromiter((isinstance(v, str) and not v.strip() for v in uniques), dtype=bool, count=len(uniques))
    return (codes < 0) | np.append(blank, True)[codes]


def _numeric(values: np.ndarray) -> bool:
    try:
        np.asarray(values, dtype=np.float64)
        return True
    except (TypeError, ValueError):
        return False


def needs_binning(values: np.ndarray) -> bool:
    """Return True for a numeric attribute with more than 10 distinct values."""
    values = np.asarray(values)
    return values.dtype.kind in "iuf" and len(np.unique(values)) > MAX_DISTINCT_UNBINNED


def sensitive_groups(state: AuditState, split: str) -> dict[str, tuple[np.ndarray, list[float] | None]]:
    """Return {attribute: (group value per row, bin edges or None)} for `split`, binned if numeric."""
    return state.sensitive_groups_train if split == "train" else state.sensitive_groups_eval


def compute_sensitive_groups(state: AuditState, split: str) -> dict[str, tuple[np.ndarray, list[float] | None]]:
    """Compute what `AuditState.sensitive_groups_<split>` holds."""
    chosen = state.config["sensitive_attributes"]
    population = state.population_sensitive
    source = state.data.sensitive_train if split == "train" else population
    out: dict[str, tuple[np.ndarray, list[float] | None]] = {}
    for name in chosen if chosen is not None else list(population):
        values, reference = np.asarray(source[name]), np.asarray(population[name])
        missing, ref_missing = _missing(values), _missing(reference)
        if missing.any() or ref_missing.any():  # a missing value is its own group, never a silent drop
            values, reference = values.copy(), reference[~ref_missing]
        present = reference.astype(np.float64) if reference.dtype.kind == "O" and _numeric(reference) else reference
        if needs_binning(present) or name in state.config["bins"]:
            labels, edges = bin_numeric(np.where(missing, np.nan, values).astype(np.float64) if missing.any()
                                        else values, edges=state.config["bins"].get(name), reference=present, name=name)
            out[name] = (np.where(missing, MISSING_GROUP, labels.astype(object)), edges)
        else:
            out[name] = (np.where(missing, MISSING_GROUP, values.astype(object)) if missing.any() else values, None)
    return out


# --------------------------------------------------------------------------- engine adapters
def group_tables(state: AuditState) -> dict[int, dict[str, tuple[GroupTable, dict[str, int]]]]:
    """Return {class: {attribute: (table, dropped groups)}} (`AuditState.group_tables`, computed once)."""
    return state.group_tables


def compute_group_tables(state: AuditState) -> dict[int, dict[str, tuple[GroupTable, dict[str, int]]]]:
    """Compute what `AuditState.group_tables` holds: one confusion pass per class and attribute."""
    y, yhat = state.population_y, state.population_yhat
    return {
        c: {
            name: group_confusion(y == c, yhat == c, groups, min_group_size=state.config["min_group_size"])
            for name, (groups, _) in sensitive_groups(state, "eval").items()
        }
        for c in state.target_classes
    }


def fairness_outcome(state: AuditState, metric_id: str, *, higher_is_better: bool) -> MetricOutcome:
    """Return a FAIR metric per attribute and class, reporting the worst attribute (and class)."""
    if not state.data.sensitive_eval or not sensitive_groups(state, "eval"):
        return MetricOutcome(None, reason="no sensitive attribute declared")
    worst, worst_key, by_class = None, None, {}
    for c, tables in group_tables(state).items():
        by_attribute = {}
        for name, (table, dropped) in tables.items():
            entry = _attribute_entry(state, name, table, dropped)
            if len(table.groups) >= 2:
                entry["value"] = _finite(FROM_TABLE[metric_id](table))
                if entry["value"] is not None and (worst is None or _worse(entry["value"], worst, higher_is_better)):
                    worst, worst_key = entry["value"], (c, name)
            by_attribute[name] = entry
        by_class[state.model.classes[c]] = by_attribute
    details = _details(state, by_class, worst_key)
    if worst_key is None:
        return MetricOutcome(None, details, reason=_no_value_reason(metric_id, by_class))
    entries = [(c, name) for c, attrs in by_class.items() for name, e in attrs.items() if e["value"] is not None]
    details["ci95"] = fairness_interval(state, metric_id, higher_is_better,
                                        [(state.model.classes.index(c), name) for c, name in entries])
    details["n_boot"] = state.config["n_boot"]
    return MetricOutcome(worst, details)


# ------------------------------------------------------------------------- bootstrap intervals
def _vector_rates(t: np.ndarray) -> dict[str, np.ndarray]:
    """Rates per replicate and group from counts t (B, g, 4) = tn, fp, fn, tp; NaN for an empty group."""
    tn, fp, fn, tp = (t[..., i].astype(np.float64) for i in range(4))
    n = tn + fp + fn + tp
    present = n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = {"selection": (tp + fp) / n, "label": (tp + fn) / n, "accuracy": (tp + tn) / n,
                 "tpr": np.where(tp + fn > 0, tp / (tp + fn), 0.0), "fpr": np.where(fp + tn > 0, fp / (fp + tn), 0.0)}
    enough = present.sum(axis=-1) >= 2  # a replicate that lost a group compares fewer groups
    return {k: np.where(present, v, np.nan) for k, v in rates.items()} | {"enough": enough}


def _vgap(v: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # all-NaN slices (a replicate without the group) give NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(v, axis=-1) - np.nanmin(v, axis=-1)


def _vector_value(metric_id: str, t: np.ndarray, overall: np.ndarray) -> np.ndarray:
    r = _vector_rates(t)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if metric_id == "FAIR-01":
            value = _vgap(r["selection"])
        elif metric_id == "FAIR-02":
            value = np.nanmin(r["selection"], axis=-1) / np.nanmax(r["selection"], axis=-1)
        elif metric_id == "FAIR-03":
            value = np.fmax(_vgap(r["tpr"]), _vgap(r["fpr"]))
        elif metric_id == "FAIR-04":
            value = _vgap(r["tpr"])
        elif metric_id == "FAIR-05":
            value = _vgap(r["accuracy"]) / overall
        else:
            label_gap = _vgap(r["label"])
            value = np.where(label_gap < LABEL_GAP_MIN, np.nan, _vgap(r["selection"]) / label_gap)
    return np.where(r["enough"], value, np.nan)


def fairness_interval(state: AuditState, metric_id: str, higher_is_better: bool,
                      entries: list[tuple[int, str]]) -> list[float] | None:
    """Return the 95 % bootstrap interval of the reported (worst) value over `entries` (class, attribute).

    Rows are resampled jointly for every attribute and class: the code of a row is its group in
    each attribute with its true and predicted class, and each replicate rebuilds every group
    table from the resampled codes (`uncertainty.cell_bootstrap`).
    """
    groups = sensitive_groups(state, "eval")
    names = list(groups)
    encoded = {name: encode_groups(groups[name][0]) for name in names}
    kept = {name: np.isin(encoded[name][0], group_tables(state)[c][name][0].groups)
            for c in state.target_classes for name in names}
    # the narrowest integer type that holds every code: 10M rows x 4 codes in 80 MB, not 320 MB
    kind = np.int16 if max((len(encoded[name][0]) for name in names), default=0) < 2**15 else np.int32
    codes = np.column_stack([*(encoded[name][1].astype(kind) for name in names),
                             state.population_y.astype(kind), state.population_yhat.astype(kind)])

    def statistic(draws: np.ndarray, cells: np.ndarray) -> np.ndarray:
        worst = None
        for c, name in entries:
            j, n_groups = names.index(name), len(encoded[name][0])
            index = 4 * cells[:, j] + 2 * (cells[:, -2] == c) + (cells[:, -1] == c)
            onehot = np.zeros((len(cells), 4 * n_groups))
            onehot[np.arange(len(cells)), index] = 1.0
            table = (draws @ onehot).reshape(len(draws), n_groups, 4)[:, kept[name], :]
            overall = draws @ ((cells[:, -2] == c) == (cells[:, -1] == c)) / draws.sum(axis=1)
            value = _vector_value(metric_id, table, overall)
            worst = value if worst is None else (np.fmin if higher_is_better else np.fmax)(worst, value)
        return worst

    return cell_bootstrap(codes, statistic, n_boot=state.config["n_boot"], rng=rng_for(state.seed, metric_id))


def _attribute_entry(state: AuditState, name: str, table: GroupTable, dropped: dict[str, int]) -> dict[str, Any]:
    entry: dict[str, Any] = {"value": None, "groups": table.to_dict(), "dropped_groups": dropped,
                             "small_groups": [str(g) for g, n in zip(table.groups, table.n, strict=True)
                                              if n < SMALL_GROUP_ROWS]}
    edges = sensitive_groups(state, "eval")[name][1]
    if edges is not None:
        entry["bins"] = edges
    if len(table.groups) < 2:
        entry["note"] = "fewer than two groups after min_group_size"
    return entry


def _details(state: AuditState, by_class: dict, worst_key: tuple[int, str] | None) -> dict[str, Any]:
    details: dict[str, Any] = {"min_group_size": state.config["min_group_size"]}
    if len(by_class) == 1:
        details["by_attribute"] = next(iter(by_class.values()))
    else:
        details["by_class"] = by_class
        details["worst_class"] = None if worst_key is None else state.model.classes[worst_key[0]]
    details["worst_attribute"] = None if worst_key is None else worst_key[1]
    return details


def _no_value_reason(metric_id: str, by_class: dict) -> str:
    if metric_id == "FAIR-06":
        return f"label gap between groups below {LABEL_GAP_MIN:g}: the ratio is undefined"
    entries = [e for attrs in by_class.values() for e in attrs.values()]
    if all("note" in e for e in entries):
        return "no sensitive attribute has two groups of at least min_group_size rows"
    return "undefined for every attribute (e.g. no group is ever selected); see details"


def _worse(a: float, b: float, higher_is_better: bool) -> bool:
    return a < b if higher_is_better else a > b


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
