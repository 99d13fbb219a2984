"""The read model of an audit's results: typed accessors over the Result JSON of METRICS.md.

`AuditRun.result` is the record (the API's `/results` answer); the `MetricResult` rows are written
from it in the same transaction as a queryable index. Code that reads results (pages, reports,
compliance, privacy, comparisons) reads them here, never by digging in `details`:

    results = run.results                # AuditResults over run.result ({} before it succeeds)
    results.metric("FAIR-05")           # MetricView or None
    results.group_table("FAIR-01")      # {attribute: GroupTable}, binary and multi-class alike
    results.accuracy                    # evaluation accuracy, or None

Pure Python (no Django, no NumPy): the reports' alert rules import it too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .metrics.catalog import FAIL, NOT_APPLICABLE, PASS, SMALL_GROUP_ROWS, WARN

__all__ = ["MetricView", "GroupTable", "AuditResults", "STATUS_RANK", "COUNTED_STATUSES", "status_change",
           "SMALL_GROUP_ROWS"]

# Statuses rank pass < warn < fail; not_applicable (and anything else) is unranked.
STATUS_RANK = {PASS: 0, WARN: 1, FAIL: 2}
COUNTED_STATUSES = tuple(STATUS_RANK)  # the statuses that are evidence (not_applicable is not)
# Where the evaluation accuracy is recorded, first found wins: PRIV-03's eval split, then the clean
# accuracy the robustness metrics start from (the same number, on the same rows).
ACCURACY_METRICS = ("PRIV-03", "ROB-04", "ROB-01", "ROB-02")
ACCURACY_KEYS = ("eval_accuracy", "clean_accuracy")


def status_change(before: str | None, after: str | None) -> str:
    """Return "same", "worse", "better" or "changed" (to or from an unranked status, e.g. not_applicable)."""
    if before == after:
        return "same"
    rank_before, rank_after = STATUS_RANK.get(before or ""), STATUS_RANK.get(after or "")
    if rank_before is None or rank_after is None:
        return "changed"
    return "worse" if rank_after > rank_before else "better"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class MetricView:
    """One metric of one audit: {"value", "status", "reason", "details", "duration_s"} of the Result JSON."""

    id: str
    value: float | None
    status: str | None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float | None = None

    @classmethod
    def from_entry(cls, metric_id: str, entry: Mapping[str, Any]) -> MetricView:
        details = entry.get("details")
        return cls(id=metric_id, value=_number(entry.get("value")), status=entry.get("status"),
                   reason=entry.get("reason"), details=details if isinstance(details, dict) else {},
                   duration_s=_number(entry.get("duration_s")))

    @property
    def counted(self) -> bool:
        """True when the status is evidence (pass, warn or fail), False for not_applicable."""
        return self.status in STATUS_RANK

    @property
    def applicable(self) -> bool:
        return self.status != NOT_APPLICABLE

    @property
    def ci95(self) -> tuple[float, float] | None:
        """Return the 95 % bootstrap interval (low, high) recorded for the value, or None."""
        interval = self.details.get("ci95")
        if isinstance(interval, list | tuple) and len(interval) == 2:
            low, high = _number(interval[0]), _number(interval[1])
            if low is not None and high is not None:
                return (low, high)
        return None

    @property
    def classes(self) -> list[str]:
        """Return the classes a multi-class fairness metric reports per class ([] for a binary audit)."""
        by_class = self.details.get("by_class")
        return [str(c) for c in by_class] if isinstance(by_class, dict) else []

    @property
    def worst_class(self) -> str | None:
        """Return the class whose table gave a multi-class metric its value (None when binary or undefined)."""
        worst = self.details.get("worst_class")
        return None if worst is None else str(worst)

    def chosen_class(self, cls: str | None = None) -> str | None:
        """Return the class whose table `by_attribute(cls)` reads: `cls`, else the worst, else the first (None when binary)."""
        classes = self.classes
        if not classes or isinstance(self.details.get("by_attribute"), dict):
            return None
        if cls is not None:
            return str(cls)
        return self.worst_class if self.worst_class in classes else classes[0]

    def by_attribute(self, cls: str | None = None) -> dict[str, Any]:
        """Return the per-attribute entries: binary audits' `by_attribute`, multi-class audits' table of one class.

        The class is `cls`, else the worst class, else the first. Returns {} when the metric has no
        groups (or no class `cls`).
        """
        flat = self.details.get("by_attribute")
        if isinstance(flat, dict):
            return flat
        key = self.chosen_class(cls)
        chosen = {str(c): t for c, t in self.details["by_class"].items()}.get(key) if key is not None else None
        return chosen if isinstance(chosen, dict) else {}

    def group_table(self, cls: str | None = None) -> dict[str, GroupTable]:
        """Return {attribute: GroupTable} of the metric (of class `cls`, or the worst, when multi-class)."""
        klass = self.chosen_class(cls)
        tables = (GroupTable.from_entry(str(a), entry, klass) for a, entry in self.by_attribute(cls).items())
        return {t.attribute: t for t in tables if t is not None}

    @property
    def importance(self) -> dict[str, float]:
        """Return the per-feature attributions (EXPL-01's mean |attribution|), {} when the metric has none."""
        raw = self.details.get("importance")
        if not isinstance(raw, dict):
            return {}
        return {str(k): v for k, v in ((k, _number(v)) for k, v in raw.items()) if v is not None}


@dataclass(frozen=True)
class GroupTable:
    """One sensitive attribute's per-group table of a fairness metric.

    `rows` maps each group to its columns (n, selection_rate, tpr, fpr, accuracy, label_rate for the
    FAIR metrics; counts for DATA-02), `columns` lists them in order, `small` names the groups under
    SMALL_GROUP_ROWS rows, `value` is the metric on this attribute and `cls` the class (multi-class).
    """

    attribute: str
    value: float | None
    columns: list[str]
    rows: dict[str, dict[str, Any]]
    small: list[str]
    cls: str | None = None

    @classmethod
    def from_entry(cls, attribute: str, entry: Any, klass: str | None = None) -> GroupTable | None:
        groups = entry.get("groups") if isinstance(entry, dict) else None
        if not isinstance(groups, dict) or not groups:
            return None
        rows = {str(g): dict(v) for g, v in groups.items() if isinstance(v, dict)}
        columns = list(next(iter(rows.values())).keys()) if rows else []
        small = entry.get("small_groups")
        if not isinstance(small, list):
            small = [g for g, v in rows.items() if isinstance(v.get("n"), int) and v["n"] < SMALL_GROUP_ROWS]
        return cls(attribute=attribute, value=_number(entry.get("value")), columns=columns, rows=rows,
                   small=[str(g) for g in small], cls=klass)

    def column(self, name: str) -> dict[str, float]:
        """Return {group: value} of one numeric column (groups without it left out)."""
        return {g: v for g, v in ((g, _number(row.get(name))) for g, row in self.rows.items()) if v is not None}


class AuditResults:
    """Typed accessors over one Result JSON; an empty one (a run not yet succeeded) answers None and {}."""

    def __init__(self, result: Mapping[str, Any] | None):
        self.raw: Mapping[str, Any] = result if isinstance(result, dict) else {}
        metrics = self.raw.get("metrics")
        self._metrics: Mapping[str, Any] = metrics if isinstance(metrics, dict) else {}

    def __bool__(self) -> bool:
        return bool(self._metrics)

    def __contains__(self, metric_id: str) -> bool:
        return isinstance(self._metrics.get(metric_id), dict)

    def __iter__(self) -> Iterator[MetricView]:
        """Yield every stored metric, in stored (catalog) order."""
        for mid in self._metrics:
            view = self.metric(mid)
            if view is not None:
                yield view

    def metric_ids(self) -> list[str]:
        return [mid for mid in self._metrics if mid in self]

    def metric(self, metric_id: str) -> MetricView | None:
        """Return one metric, or None when the audit has no entry for it."""
        entry = self._metrics.get(metric_id)
        return MetricView.from_entry(metric_id, entry) if isinstance(entry, dict) else None

    def value(self, metric_id: str) -> float | None:
        view = self.metric(metric_id)
        return None if view is None else view.value

    def status(self, metric_id: str) -> str | None:
        view = self.metric(metric_id)
        return None if view is None else view.status

    def group_table(self, metric_id: str, cls: str | None = None) -> dict[str, GroupTable]:
        """Return {attribute: GroupTable} of a fairness metric; multi-class audits give class `cls` (else the worst)."""
        view = self.metric(metric_id)
        return {} if view is None else view.group_table(cls)

    def failing(self) -> list[str]:
        """Return the ids of the metrics that failed."""
        return [m.id for m in self if m.status == FAIL]

    @property
    def baseline(self) -> dict[str, Any]:
        """Return {"accuracy", "majority_class", "majority_accuracy", "trivial_model", …} ({} before it was recorded)."""
        base = self.raw.get("baseline")
        return base if isinstance(base, dict) else {}

    @property
    def trivial_model(self) -> bool:
        """True when the model does not beat always predicting the majority class."""
        return bool(self.raw.get("trivial_model"))

    @property
    def rows_dropped(self) -> dict[str, Any]:
        """Return {"count", "train", "eval", "reasons": {reason: rows}} of rows the audit could not use."""
        dataset = self.raw.get("dataset")
        dropped = dataset.get("rows_dropped") if isinstance(dataset, dict) else None
        return dropped if isinstance(dropped, dict) else {"count": 0, "reasons": {}}

    @property
    def thresholds(self) -> dict[str, Any]:
        """Return the thresholds the run applied per metric ({} for runs from before they were recorded)."""
        used = self.raw.get("thresholds")
        return used if isinstance(used, dict) else {}

    @property
    def accuracy(self) -> float | None:
        """Return the accuracy on the evaluation rows the audit recorded, or None when no metric recorded it."""
        for metric_id in ACCURACY_METRICS:
            view = self.metric(metric_id)
            for key in ACCURACY_KEYS if view is not None else ():
                value = _number(view.details.get(key))
                if value is not None:
                    return value
        return _number(self.baseline.get("accuracy"))  # runs record it there too (METRICS.md amendments)

    @property
    def dimensions(self) -> dict[str, Any]:
        dims = self.raw.get("dimensions")
        return dims if isinstance(dims, dict) else {}
