"""Tabular dataset parsing, schema validation and the train/evaluation split (no Django)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MAX_COLUMNS = 10_000


class DatasetError(ValueError):
    """The file or its schema is unusable; `fields` maps schema fields to messages."""

    def __init__(self, message: str, fields: dict | None = None):
        super().__init__(message)
        self.fields = fields or {}


@dataclass
class Schema:
    """What the columns of a dataset mean to an audit."""

    target: str
    positive_label: str
    features: list[str] = field(default_factory=list)
    categorical: list[str] | None = None
    sensitive_attributes: list[str] = field(default_factory=list)
    split_column: str = ""
    test_size: float = 0.3

    def resolved(self, frame: pd.DataFrame) -> Schema:
        """Return a copy with defaults filled in from the frame's columns."""
        excluded = {self.target, self.split_column, *self.sensitive_attributes}
        features = self.features or [c for c in frame.columns if c not in excluded]
        categorical = self.categorical
        if categorical is None:
            categorical = [c for c in features if c in frame.columns and is_categorical(frame[c])]
        return Schema(self.target, str(self.positive_label), list(features), list(categorical),
                      list(self.sensitive_attributes), self.split_column, self.test_size)


def is_categorical(column: pd.Series) -> bool:
    """Return True for non-numeric columns and columns holding only 0 and 1."""
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return True
    values = set(pd.unique(column.dropna()))
    return bool(values) and values <= {0, 1}


def sniff_table_format(filename: str, data: bytes) -> str:
    """Return "parquet" or "csv" from the file's magic bytes and name."""
    if data[:4] == b"PAR1":
        return "parquet"
    if filename.lower().endswith(".parquet"):
        raise DatasetError("The file is named .parquet but is not a Parquet file")
    return "csv"


def parse_table(data: bytes, fmt: str) -> pd.DataFrame:
    """Return the table in `data`, raising DatasetError when it cannot be parsed."""
    if not data:
        raise DatasetError("The file is empty")
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(io.BytesIO(data))
        else:
            header = data[: 1 << 20].split(b"\n", 1)[0]
            if header.count(b",") >= MAX_COLUMNS:
                raise DatasetError(f"The file has more than {MAX_COLUMNS} columns")
            frame = pd.read_csv(io.BytesIO(data), low_memory=False)
    except DatasetError:
        raise
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        raise DatasetError(f"Could not parse the {fmt.upper()} file: {str(exc).splitlines()[0][:200]}") from None
    if frame.shape[1] > MAX_COLUMNS:
        raise DatasetError(f"The file has more than {MAX_COLUMNS} columns")
    if frame.empty:
        raise DatasetError("The file holds no rows")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def validate(frame: pd.DataFrame, schema: Schema) -> Schema:
    """Return the resolved schema, or raise DatasetError naming every problem found."""
    errors: dict[str, str] = {}
    columns = set(frame.columns)
    if schema.target not in columns:
        errors["target"] = f"Column {schema.target!r} is not in the file"
    missing = [c for c in schema.features if c not in columns]
    if missing:
        errors["features"] = f"Columns not in the file: {', '.join(missing)}"
    unknown = [c for c in schema.sensitive_attributes if c not in columns]
    if unknown:
        errors["sensitive_attributes"] = f"Unknown sensitive attribute(s): {', '.join(unknown)}"
    if schema.categorical:
        bad = [c for c in schema.categorical if c not in columns]
        if bad:
            errors["categorical"] = f"Columns not in the file: {', '.join(bad)}"
    if schema.split_column:
        errors.update(_check_split(frame, schema.split_column))
    elif not 0 < schema.test_size < 1:
        errors["test_size"] = "test_size must be between 0 and 1"
    if "target" not in errors:
        errors.update(_check_target(frame[schema.target], str(schema.positive_label)))
    if errors:
        raise DatasetError("; ".join(errors.values()), errors)
    return schema.resolved(frame)


def _check_target(target: pd.Series, positive_label: str) -> dict[str, str]:
    labels = sorted({str(v) for v in target.dropna().unique()})
    if len(labels) < 2:
        return {"target": f"The target has only one class ({', '.join(labels) or 'none'}); an audit needs two or more"}
    if positive_label not in labels:
        return {"positive_label": f"Positive label {positive_label!r} is not a value of the target ({', '.join(labels[:10])})"}
    return {}


def _check_split(frame: pd.DataFrame, column: str) -> dict[str, str]:
    if column not in frame.columns:
        return {"split_column": f"Column {column!r} is not in the file"}
    values = set(frame[column].astype(str).str.strip().str.lower().unique())
    if not {"train", "test"} <= values or values - {"train", "test", "eval", "validation"}:
        return {"split_column": f"Split column {column!r} must hold 'train' and 'test' (found {sorted(values)[:5]})"}
    return {}


def split_mask(frame: pd.DataFrame, schema: Schema, *, seed: int = 0) -> np.ndarray:
    """Return a boolean mask that is True for training rows (seeded when there is no split column)."""
    if schema.split_column:
        return frame[schema.split_column].astype(str).str.strip().str.lower().eq("train").to_numpy()
    rng = np.random.default_rng(seed)
    n = len(frame)
    eval_rows = rng.permutation(n)[: int(round(schema.test_size * n))]
    mask = np.ones(n, dtype=bool)
    mask[eval_rows] = False
    return mask
