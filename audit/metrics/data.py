"""Data governance (DATA-01 … DATA-03): datasheet completeness, representation, poisoning scan."""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.metrics.documentation import DATASHEET_FIELDS, NOT_REGISTERED, is_filled
from audit.metrics.fairness import encode_groups, sensitive_groups
from audit.metrics.state import AuditState, MetricOutcome

__all__ = ["DATASHEET_FIELDS", "datasheet_completeness", "spectral_scores", "flag_outliers", "spectral_flags", "SPECTRAL_K"]

SPECTRAL_K = 20.0  # bench/poisoning_bench.py: clean <= 0.0075, 2-5 % backdoors flagged (RESULTS.md)
MAD_TO_SIGMA = 1.4826
EMPTY_REPRESENTATIONS_ERROR = "Spectral signatures need at least two rows of representations."


def _personal_data_filled(sheet: dict[str, Any]) -> bool:
    """"No", or "yes" with its legal basis (as `personal_data_legal_basis` or inside a dict)."""
    value = sheet.get("personal_data")
    if isinstance(value, dict):
        return value.get("contains") is False or (bool(value.get("contains")) and is_filled(value.get("legal_basis")))
    if value is False or (isinstance(value, str) and value.strip().lower() == "no"):
        return True
    if value is True or (isinstance(value, str) and value.strip().lower() == "yes"):
        return is_filled(sheet.get("personal_data_legal_basis"))
    return False


def datasheet_completeness(sheet: dict[str, Any]) -> tuple[float, list[str]]:
    r"""Return (share of the 8 datasheet fields filled, the missing fields).

    .. math:: C = |\{f : f \text{ filled}\}| / 8

    Personal data counts as filled when it says "no", or "yes" with a legal basis; 1 means complete.
    """
    missing = [f for f in DATASHEET_FIELDS
               if not (_personal_data_filled(sheet) if f == "personal_data" else is_filled(sheet.get(f)))]
    return 1 - len(missing) / len(DATASHEET_FIELDS), missing


def datasheet_outcome(state: AuditState) -> MetricOutcome:
    """DATA-01 from `AuditContext.datasheet`."""
    context = state.context
    if context is None or not context.registered:
        return MetricOutcome(None, reason=NOT_REGISTERED)
    value, missing = datasheet_completeness(context.datasheet or {})
    return MetricOutcome(value, {"fields": len(DATASHEET_FIELDS), "missing": missing,
                                 "not_counted": ["size (recorded automatically)"]})


def spectral_scores(representations: np.ndarray) -> np.ndarray:
    r"""Return spectral-signature scores :math:`s_i = (\langle r_i - \mu, v\rangle - m)^2` (Tran et al. 2018).

    v is the top right singular vector of the mean-centred representations; the projections are
    centred on their median m. Large scores mark rows that share one unusual direction, as a
    backdoor's trigger does. The median (where Tran et al. centre on the mean) keeps a larger
    poisoned share from dragging the centre towards itself: with the mean, a 5 % backdoor scored
    lower than a 3 % one and was missed (bench/poisoning_bench.py).
    """
    r = np.asarray(representations, dtype=np.float64).reshape(len(representations), -1)
    if len(r) < 2:
        raise ValueError(EMPTY_REPRESENTATIONS_ERROR)
    centred = r - r.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projections = centred @ vt[0]
    return (projections - np.median(projections)) ** 2


def flag_outliers(scores: np.ndarray, *, k: float = SPECTRAL_K) -> np.ndarray:
    r"""Return the mask :math:`s_i > \mathrm{median}(s) + k \cdot 1.4826 \cdot \mathrm{MAD}(s)`."""
    median = np.median(scores)
    mad = np.median(np.abs(scores - median))
    return scores > median + k * MAD_TO_SIGMA * mad


def spectral_flags(representations: np.ndarray, labels: np.ndarray, *, k: float = SPECTRAL_K) -> np.ndarray:
    """Return the rows flagged by spectral signatures computed separately within each class of `labels`."""
    r = np.asarray(representations, dtype=np.float64).reshape(len(representations), -1)
    flagged = np.zeros(len(r), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) >= 2:
            flagged[members] = flag_outliers(spectral_scores(r[members]), k=k)
    return flagged


def standardised(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Return `x` as z-scores per column of `reference` (constant columns dropped; a missing value is 0).

    Without it one wide-ranged column (an income in currency units) owns the top singular vector
    and a trigger on two ordinary columns is invisible (METRICS.md, December amendments).
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    reference = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    with np.errstate(invalid="ignore"):
        mean, std = np.nanmean(reference, axis=0), np.nanstd(reference, axis=0)
    keep = np.isfinite(std) & (std > 0)
    return np.nan_to_num((x[:, keep] - mean[keep]) / std[keep], nan=0.0, posinf=0.0, neginf=0.0)


MAX_LISTED_ROWS = 500


def poisoning_outcome(state: AuditState) -> MetricOutcome:
    """DATA-03: share of sampled training rows flagged by per-class spectral signatures.

    Representations: the penultimate layer of zoo models, else the encoded inputs standardised on
    the training rows (for torch-export programs too: their penultimate layer flagged fewer
    backdoor rows than their standardised inputs in bench/poisoning_bench.py).
    The details list the flagged training rows (indices into the training split, first 500).
    """
    rows = state.sample("DATA-03", len(state.data.x_train), state.config["poisoning_rows"], offset=4)
    if len(rows) == 0:
        return MetricOutcome(None, reason="no training rows")
    x, y = state.data.x_train[rows], state.data.y_train[rows]
    reps = state.model.representations
    if reps is not None:
        r, kind = np.asarray(reps(x)), "penultimate layer"
    else:
        r, kind = standardised(state.flat(x), state.flat(state.data.x_train)), "standardised encoded inputs"
    flagged = spectral_flags(r, y, k=SPECTRAL_K)
    by_class = {state.model.classes[int(c)]: {"rows": int((y == c).sum()), "flagged": int(flagged[y == c].sum())}
                for c in np.unique(y)}
    flagged_rows = [int(i) for i in rows[flagged]]
    details = {"k": SPECTRAL_K, "rows": int(len(rows)), "by_class": by_class, "representations": kind,
               "flagged_rows": flagged_rows[:MAX_LISTED_ROWS], "flagged_count": len(flagged_rows)}
    return MetricOutcome(float(flagged.mean()), details)


def representation_ratio(state: AuditState) -> MetricOutcome:
    """DATA-02: min_g n_g / max_g n_g over training rows per attribute; the worst attribute.

    .. math:: R_A = \\min_g n_g / \\max_g n_g

    1 means every group is equally represented in the training rows; 0.05 means the smallest
    group has one row for every twenty of the largest.
    """
    if not state.data.sensitive_train or not sensitive_groups(state, "train"):
        return MetricOutcome(None, reason="no sensitive attribute declared")
    if len(state.data.x_train) == 0:
        return MetricOutcome(None, reason="no training rows")
    by_attribute, worst, worst_name = {}, None, None
    for name, (values, edges) in sensitive_groups(state, "train").items():
        labels, codes = encode_groups(values)
        counts = np.bincount(codes, minlength=len(labels))
        keep = counts >= state.config["min_group_size"]
        ratio = float(counts[keep].min() / counts[keep].max()) if keep.sum() >= 2 else None
        by_attribute[name] = {"value": ratio, "counts": {str(g): int(n) for g, n in zip(labels, counts, strict=True)},
                              "dropped_groups": [str(g) for g in labels[~keep]]}
        if edges is not None:
            by_attribute[name]["bins"] = edges
        if ratio is not None and (worst is None or ratio < worst):
            worst, worst_name = ratio, name
    details = {"by_attribute": by_attribute, "worst_attribute": worst_name}
    if worst is None:
        return MetricOutcome(None, details, reason="no sensitive attribute has two groups in the training rows")
    return MetricOutcome(worst, details)
