"""Design spaces: how a raw frame becomes the float design matrix the metric engine works in.

- `EncodedDesign`: a zoo encoder's one-hot and standardised columns (torch models).
- `TensorDesign`: the feature columns as floats, in order (models taking one numeric array).
- `CodedDesign`: the raw columns, categorical ones as integer codes fitted on the training frame;
  `decode` turns a matrix back into the frame a black-box model with named columns takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .encoder import EncoderSpec, category_key, category_keys

__all__ = ["CodedDesign", "DesignSpace", "EncodedDesign", "TensorDesign"]


class DesignSpace(Protocol):
    """What every design space offers: the matrix of a frame and the description of its columns."""

    columns: list[str]
    column_features: list[str]
    categorical_mask: np.ndarray

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the design matrix of `frame`, float64 (n, len(columns))."""
        ...


def _require(frame: pd.DataFrame, features: Sequence[str]) -> None:
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks feature columns {missing}")


class EncodedDesign:
    """The encoder's columns; one-hot columns (and those of declared categoricals) are categorical."""

    def __init__(self, encoder: EncoderSpec, categorical: Sequence[str] = ()) -> None:
        self.encoder = encoder
        self.columns = encoder.columns
        self.column_features = encoder.column_features
        declared = np.array([name in set(categorical) for name in self.column_features], dtype=bool)
        self.categorical_mask = encoder.categorical_mask | declared

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the encoded design matrix of `frame`, float64."""
        return self.encoder.transform(frame).astype(np.float64)


class TensorDesign:
    """The feature columns as floats, in their declared order."""

    def __init__(self, features: Sequence[str], categorical: Sequence[str] = ()) -> None:
        self.columns = list(features)
        self.column_features = list(features)
        self.categorical_mask = np.array([name in set(categorical) for name in features], dtype=bool)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Return `frame`'s feature columns as a float64 matrix, raising ValueError on text values."""
        _require(frame, self.columns)
        try:
            return frame[self.columns].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"this model takes one numeric array, but a feature column is not numeric: {exc}"
            ) from exc


class CodedDesign:
    """Raw columns; categorical ones as codes into the training frame's sorted values.

    A value absent from the training frame (or missing) is coded -1 and decoded as missing.
    """

    def __init__(self, features: Sequence[str], categorical: Sequence[str], train_frame: pd.DataFrame | None):
        self.columns = list(features)
        self.column_features = list(features)
        chosen = set(categorical)
        self.categorical_mask = np.array([name in chosen for name in features], dtype=bool)
        self.values: dict[str, list[Any]] | None = None
        self.dtypes: dict[str, Any] = {}
        if train_frame is not None:
            _require(train_frame, features)
            self.values = {name: _sorted_values(train_frame[name]) for name in features if name in chosen}
            self.dtypes = {name: train_frame[name].dtype for name in features}

    def _codes(self) -> dict[str, list[Any]]:
        if self.values is None:
            raise ValueError("a training frame is needed to code this model's categorical columns")
        return self.values

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the coded design matrix of `frame`, float64."""
        _require(frame, self.columns)
        codes = self._codes()
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, name in enumerate(self.columns):
            if name in codes:
                index = {category_key(value): i for i, value in enumerate(codes[name])}
                out[:, j] = [index.get(key, -1) for key in category_keys(frame[name])]
            else:
                out[:, j] = pd.to_numeric(frame[name], errors="coerce").to_numpy(
                    dtype=np.float64, na_value=np.nan
                )
        return out

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        """Return the raw frame a design matrix stands for (categorical codes back to their values)."""
        codes = self._codes()
        columns = {}
        for j, name in enumerate(self.columns):
            if name in codes:
                table = np.array([*codes[name], None], dtype=object)
                index = np.rint(matrix[:, j]).astype(np.int64)
                index[(index < 0) | (index >= len(codes[name]))] = -1
                columns[name] = _restore_dtype(pd.Series(table[index], dtype=object), self.dtypes.get(name))
            else:
                columns[name] = pd.Series(matrix[:, j], dtype=np.float64)
        return pd.DataFrame(columns)


def _sorted_values(column: pd.Series) -> list[Any]:
    first: dict[str, Any] = {}
    for value, key in zip(column.tolist(), category_keys(column), strict=True):
        if key is not None and key not in first:
            first[key] = value
    return [first[key] for key in sorted(first)]


def _restore_dtype(series: pd.Series, dtype: Any) -> pd.Series:
    if dtype is None or pd.api.types.is_object_dtype(dtype) or series.isna().any():
        return series
    try:
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series
