"""A tabular encoder that lives in JSON: standardised numeric columns and one-hot categorical ones.

A zoo model stores its `EncoderSpec` in `config.json`, so the design matrix it was trained on can be
rebuilt from a raw frame without unpickling a fitted scikit-learn transformer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["EncoderSpec", "FeatureSpec", "category_key", "category_keys", "default_categorical"]

NUMERIC = "numeric"
CATEGORICAL = "categorical"


def category_key(value: Any) -> str | None:
    """Return the string a categorical value is known by, or None for a missing value.

    Integral floats read as integers ("1.0" -> "1"), so a column read back as float keeps its
    categories.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def category_keys(values: Iterable[Any]) -> list[str | None]:
    """Return `category_key` of each value."""
    return [category_key(v) for v in values]


def default_categorical(frame: pd.DataFrame, features: Sequence[str]) -> list[str]:
    """Return the features that are categorical by default: non-numeric ones and 0/1 ones."""
    chosen = []
    for name in features:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            chosen.append(name)
            continue
        distinct = set(column.dropna().unique().tolist())
        if distinct and distinct <= {0, 1}:
            chosen.append(name)
    return chosen


@dataclass(frozen=True)
class FeatureSpec:
    """How one raw feature becomes design-matrix columns.

    kind "numeric": one column, (x - mean) / std, a missing value becomes the mean (0).
    kind "categorical": one column per category (sorted); unknown or missing -> all zeros.
    """

    name: str
    kind: str
    mean: float = 0.0
    std: float = 1.0
    categories: tuple[str, ...] = ()

    def columns(self) -> list[str]:
        """Return the encoded column names of this feature."""
        if self.kind == NUMERIC:
            return [self.name]
        return [f"{self.name}={category}" for category in self.categories]

    def to_json(self) -> dict[str, Any]:
        """Return this feature as a JSON-serialisable dict."""
        if self.kind == NUMERIC:
            return {"name": self.name, "kind": NUMERIC, "mean": self.mean, "std": self.std}
        return {"name": self.name, "kind": CATEGORICAL, "categories": list(self.categories)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSpec:
        """Return the feature described by `data`, raising ValueError when it is malformed."""
        try:
            name, kind = str(data["name"]), data["kind"]
            if kind == NUMERIC:
                std = float(data["std"])
                if not std > 0:
                    raise ValueError(f"std must be positive, got {std}")
                return cls(name=name, kind=kind, mean=float(data["mean"]), std=std)
            if kind == CATEGORICAL:
                return cls(name=name, kind=kind, categories=tuple(str(c) for c in data["categories"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed encoder feature {data!r}: {exc}") from exc
        raise ValueError(f"encoder feature {name!r} has unknown kind {kind!r}")

    def transform(self, column: pd.Series) -> np.ndarray:
        """Return this feature's encoded columns for `column`, float64 (n, width)."""
        if self.kind == NUMERIC:
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            values = (values - self.mean) / self.std
            return np.nan_to_num(values, nan=0.0)[:, None]
        index = {category: i for i, category in enumerate(self.categories)}
        out = np.zeros((len(column), len(self.categories)), dtype=np.float64)
        for row, key in enumerate(category_keys(column)):
            position = index.get(key) if key is not None else None
            if position is not None:
                out[row, position] = 1.0
        return out


@dataclass(frozen=True)
class EncoderSpec:
    """The fitted encoder: one `FeatureSpec` per raw feature, in design-matrix order."""

    features: tuple[FeatureSpec, ...] = field(default_factory=tuple)

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, features: Sequence[str], categorical: Sequence[str] | None = None
    ) -> EncoderSpec:
        """Return the encoder fitted on `frame`.

        `categorical` defaults to `default_categorical(frame, features)`.
        """
        _require_columns(frame, features)
        if categorical is None:
            categorical = default_categorical(frame, features)
        chosen = set(categorical)
        specs = []
        for name in features:
            if name in chosen:
                keys = {key for key in category_keys(frame[name]) if key is not None}
                specs.append(FeatureSpec(name=name, kind=CATEGORICAL, categories=tuple(sorted(keys))))
            else:
                specs.append(_fit_numeric(name, frame[name]))
        return cls(features=tuple(specs))

    @property
    def feature_names(self) -> list[str]:
        """Return the raw feature names, in order."""
        return [spec.name for spec in self.features]

    @property
    def columns(self) -> list[str]:
        """Return the encoded column names ("age", "workclass=Private", ...)."""
        return [column for spec in self.features for column in spec.columns()]

    @property
    def column_features(self) -> list[str]:
        """Return the raw feature of each encoded column."""
        return [spec.name for spec in self.features for _ in spec.columns()]

    @property
    def categorical_mask(self) -> np.ndarray:
        """Return a bool mask over the encoded columns: True for one-hot columns."""
        return np.array(
            [spec.kind == CATEGORICAL for spec in self.features for _ in spec.columns()], dtype=bool
        )

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the encoded design matrix of `frame`, float32 (n, len(columns))."""
        _require_columns(frame, self.feature_names)
        if not self.features:
            return np.zeros((len(frame), 0), dtype=np.float32)
        blocks = [spec.transform(frame[spec.name]) for spec in self.features]
        return np.hstack(blocks).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        """Return the spec as a JSON-serialisable dict (what `config.json` stores)."""
        return {"version": 1, "features": [spec.to_json() for spec in self.features]}

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> EncoderSpec:
        """Return the spec stored in `data` (a dict from `to_json`, or its JSON text)."""
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, dict) or not isinstance(data.get("features"), list):
            raise ValueError("an encoder spec is a JSON object with a 'features' list")
        specs = tuple(FeatureSpec.from_json(item) for item in data["features"])
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"encoder spec repeats a feature: {names}")
        return cls(features=specs)


def _fit_numeric(name: str, column: pd.Series) -> FeatureSpec:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return FeatureSpec(name=name, kind=NUMERIC)
    std = float(finite.std())
    # A constant column keeps std 1 so it encodes to zeros instead of dividing by zero.
    return FeatureSpec(name=name, kind=NUMERIC, mean=float(finite.mean()), std=std if std > 0 else 1.0)


def _require_columns(frame: pd.DataFrame, features: Iterable[str]) -> None:
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks feature columns {missing}")
