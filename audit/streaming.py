"""Audit a table file of any length in bounded memory: read it in chunks, never whole (no Django).

An in-memory audit holds every row's model inputs, about 1.3 GB per million rows of 20 inputs with
the intermediates. Here the file is read four times in chunks of `CHUNK_ROWS` rows, and what stays
in memory is a few bytes per row plus two samples of at most `input_rows` rows:

1. the target (and split) column of every row: where each row goes (dropped, training, evaluation),
   with the in-memory path's split rule (`datasets.split_mask`), and the target's classes;
2. the training rows of a seeded sample, and one row of every categorical value the training rows
   hold, so that the model's encoding sees every value as it would reading the whole file;
3. (the model is loaded) every row: training rows the model refuses are counted; each evaluation row
   the model takes contributes its class, predicted class and groups to `Population`, and the rows
   of the evaluation sample keep their inputs.

The input metrics then read the samples and FAIR-* and the accuracies every evaluation row, as in
`runner.prepare` with `input_rows`. When no row is dropped for a missing value, the samples, and so
every number, equal those of the in-memory path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .datasets import DatasetError, Schema, split_missing
from .metrics.base import Population
from .runner import (
    EVAL_INPUTS_OFFSET,
    TRAIN_INPUTS_OFFSET,
    Prepared,
    accepted_rows,
    audit_data,
    class_dtype,
    class_indices,
    predict_rows,
    sample_record,
)

__all__ = ["CHUNK_ROWS", "TableFile", "prepare_file"]

CHUNK_ROWS = 200_000
Progress = Callable[[float, str], None]


class TableFile:
    """A CSV or Parquet file read in chunks of rows, a chosen set of columns at a time."""

    def __init__(self, path: Path, fmt: str, chunk_rows: int = CHUNK_ROWS) -> None:
        if fmt not in ("csv", "parquet"):
            raise DatasetError(f"Unknown table format {fmt!r}: expected csv or parquet")
        self.path, self.format, self.chunk_rows = Path(path), fmt, chunk_rows

    def columns(self) -> list[str]:
        if self.format == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(self.path).schema_arrow.names)
        return list(pd.read_csv(self.path, nrows=0).columns)

    def head(self) -> pd.DataFrame:
        """The first chunk of rows: what column types (and categorical inputs) are judged by."""
        return next(self.chunks(), pd.DataFrame())

    def chunks(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """Yield the rows in file order, `chunk_rows` at a time (only `columns`, in file order, if given)."""
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                # pre_buffer=False: with it, pyarrow keeps every column chunk it has read (1.4 GB for 10M rows)
                parquet = pq.ParquetFile(self.path, pre_buffer=False)
                for batch in parquet.iter_batches(batch_size=self.chunk_rows, columns=columns):
                    yield batch.to_pandas()
            else:
                yield from pd.read_csv(self.path, usecols=columns, chunksize=self.chunk_rows, low_memory=False)
        except (ValueError, OSError) as exc:
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(f"Could not read the {self.format.upper()} file: {str(exc).splitlines()[0][:200]}") from None


class _Values:
    """One sensitive attribute of every population row, held compactly: numbers as arrays, text as codes."""

    def __init__(self) -> None:
        self.parts: list[tuple[bool, np.ndarray]] = []  # (holds codes, array)
        self.codes: dict = {}
        self.categories: list = [None]  # code 0: missing

    def add(self, column: pd.Series) -> None:
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            self.parts.append((False, column.to_numpy()))
            return
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        lookup = np.empty(len(uniques) + 1, dtype=np.int32)
        lookup[-1] = 0
        for i, value in enumerate(uniques):
            lookup[i] = self.codes.setdefault(value, len(self.categories))
            if lookup[i] == len(self.categories):
                self.categories.append(value)
        self.parts.append((True, lookup[codes]))  # decoded once, at the end

    def values(self) -> np.ndarray:
        categories = np.asarray(self.categories, dtype=object)
        decoded = [categories[p] if coded else p for coded, p in self.parts]
        return np.concatenate(decoded) if decoded else np.zeros(0, dtype=object)


def _roles(table: TableFile, schema: Schema) -> tuple[np.ndarray, dict[str, int], list[str]]:
    """Return the role of every row (-1 dropped, 1 training, 0 evaluation), the drops and the target values."""
    from .datasets import split_mask

    columns = [schema.target] + ([schema.split_column] if schema.split_column else [])
    parts, dropped, targets = [], {}, set()
    missing_target = blank_split = 0
    for chunk in table.chunks(columns):
        target = chunk[schema.target]
        keep = ~(target.isna() | target.astype(object).map(lambda v: str(v).strip() == "")).to_numpy()
        missing_target += int((~keep).sum())
        role = np.where(keep, 2, -1).astype(np.int8)
        if schema.split_column:
            blank = split_missing(chunk[schema.split_column]).to_numpy() & keep
            blank_split += int(blank.sum())
            role[blank] = -1
            train = split_mask(chunk, schema)
            role[role == 2] = np.where(train[role == 2], 1, 0)
        targets.update(pd.unique(target[keep]))
        parts.append(role)
    role = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int8)
    if missing_target:
        dropped[f"missing target ({schema.target})"] = missing_target
    if blank_split:
        dropped[f"blank split cell ({schema.split_column})"] = blank_split
    if not schema.split_column:  # the in-memory rule over the placed rows, in file order
        placed = np.flatnonzero(role == 2)
        train = split_mask(pd.DataFrame(index=range(len(placed))), schema)
        role[placed] = np.where(train, 1, 0)
    return role, dropped, list(targets)


def _check_target(values: list, positive: str) -> None:
    """The checks of `datasets.validate` on the target's distinct values."""
    targets = sorted({str(v) for v in values})
    if len(targets) < 2:
        raise DatasetError(f"The target has only one class ({', '.join(targets) or 'none'}); an audit needs two or more")
    if positive not in targets:
        raise DatasetError(f"Positive label {positive!r} is not a value of the target ({', '.join(targets[:10])})")


def prepare_file(table: TableFile, schema: Schema, load: Callable[[pd.DataFrame, list[str], Schema], object], *,
                 config: dict, started: float, training_assumed: bool = False,
                 progress: Progress | None = None) -> Prepared:
    """Return the audit inputs of a table file, holding a few bytes per row and two samples of rows.

    `load(training_frame, classes, schema)` loads the model with the encoding of `training_frame`
    (`classes`: what a model that declares none is assumed to have; `schema`: resolved on the file).
    """
    from .metrics.engine import validate_config
    from .metrics.state import sample_rows

    progress = progress or (lambda _p, _m: None)
    settings = validate_config(config)
    input_rows, seed, batch_size = settings["input_rows"], settings["seed"], settings["batch_size"]
    head = table.head()
    missing = [c for c in [schema.target, *schema.features, *schema.sensitive_attributes,
                           *([schema.split_column] if schema.split_column else [])] if c not in head.columns]
    if missing:
        raise DatasetError(f"Columns not in the file: {', '.join(missing)}")
    schema = schema.resolved(head)

    progress(1, "reading targets")
    role, dropped_before, targets = _roles(table, schema)
    _check_target(targets, str(schema.positive_label))
    train_rows, eval_rows = np.flatnonzero(role == 1), np.flatnonzero(role == 0)
    if len(train_rows) == 0 or len(eval_rows) == 0:
        raise ValueError("The dataset needs both training and evaluation rows")
    train_index = sample_rows(len(train_rows), input_rows, seed=seed + TRAIN_INPUTS_OFFSET)
    eval_index = sample_rows(len(eval_rows), input_rows, seed=seed + EVAL_INPUTS_OFFSET)
    train_pick, eval_pick = train_rows[train_index], eval_rows[eval_index]  # rows of the file
    del head
    columns = list(dict.fromkeys([schema.target, *schema.features, *schema.sensitive_attributes]))

    progress(3, "reading training rows")
    train_parts, extra_parts, seen = [], [], {c: set() for c in schema.categorical or []}
    for offset, chunk in _with_offsets(table.chunks(columns)):
        rows = np.arange(offset, offset + len(chunk))
        train = chunk[role[rows] == 1]
        train_parts.append(chunk[np.isin(rows, train_pick, assume_unique=True)])
        for name, values in seen.items():  # one row of each categorical value the training rows hold
            column = train[name].astype(object)
            new = ~column.isin(values) & ~column.duplicated()
            if new.any():
                extra_parts.append(train[new.to_numpy()])
                values.update(column[new])
    train_sample = pd.concat(train_parts, ignore_index=True)
    from .modelio.encoder import category_key

    classes_assumed = [category_key(v) for v in sorted(targets)]  # as `splits.target_classes`
    loaded = load(pd.concat([train_sample, *extra_parts], ignore_index=True), classes_assumed, schema)
    classes = [str(c) for c in loaded.classes]
    positive = str(schema.positive_label)
    if positive not in classes:
        raise ValueError(f"The positive label {positive!r} is not one of the model's classes ({', '.join(classes)})")
    features = list(getattr(loaded, "features", None) or schema.features)

    progress(6, "predicting every row")
    model, kind = loaded.to_audit_model(), class_dtype(len(classes))
    reasons = dict(dropped_before)
    split_dropped = {"train": 0, "eval": 0}
    train_keep, eval_parts, sample_at = [], [], []
    y_parts, yhat_parts = [], []
    sensitive = {a: _Values() for a in schema.sensitive_attributes}
    population_rows = 0
    total = len(role)
    for offset, chunk in _with_offsets(table.chunks(columns)):
        rows = np.arange(offset, offset + len(chunk))
        chunk_role = role[rows]
        for split, code in (("train", 1), ("eval", 0)):
            part, part_rows = chunk[chunk_role == code], rows[chunk_role == code]
            keep, why = accepted_rows(loaded, part, features)
            for reason, n in why.items():
                reasons[reason] = reasons.get(reason, 0) + n
            split_dropped[split] += int((~keep).sum())
            if split == "train":
                train_keep.append(keep[np.isin(part_rows, train_pick, assume_unique=True)])
                continue
            part, part_rows = part[keep], part_rows[keep]
            yhat_parts.append(predict_rows(loaded, model, part, kind, batch_size))
            y_parts.append(class_indices(part[schema.target], classes, "evaluation").astype(kind))
            for name, values in sensitive.items():
                values.add(part[name])
            picked = np.isin(part_rows, eval_pick, assume_unique=True)
            eval_parts.append(part[picked])
            sample_at.append(population_rows + np.flatnonzero(picked))
            population_rows += len(part)
        progress(6 + 24 * min(1.0, (offset + len(chunk)) / max(total, 1)), "predicting every row")

    train_sample = train_sample[np.concatenate(train_keep)].reset_index(drop=True)
    evaluation = pd.concat(eval_parts, ignore_index=True)
    if len(train_sample) == 0 or len(evaluation) == 0:
        raise ValueError("The dataset needs both training and evaluation rows the model takes")
    sample = np.concatenate(sample_at)
    population = None
    samples = {"inputs (training)": sample_record(train_index, len(train_rows), seed + TRAIN_INPUTS_OFFSET)} \
        if len(train_pick) < len(train_rows) else {}
    if len(sample) < population_rows:
        population = Population(y=np.concatenate(y_parts), yhat=np.concatenate(yhat_parts),
                                sensitive={a: v.values() for a, v in sensitive.items()}, sample=sample)
        samples["inputs (evaluation)"] = sample_record(eval_index, len(eval_rows), seed + EVAL_INPUTS_OFFSET)
    del y_parts, yhat_parts, sensitive
    _release_memory()

    data = audit_data(loaded, train_sample, evaluation, schema, classes, positive,
                      training_assumed=training_assumed, population=population)
    rows_dropped = {"count": sum(reasons.values()), "train": split_dropped["train"], "eval": split_dropped["eval"],
                    "reasons": reasons}
    return Prepared(loaded, data, positive, time.perf_counter() - started, rows_dropped, samples,
                    rows_train=len(train_rows) - split_dropped["train"])


def _with_offsets(chunks: Iterator[pd.DataFrame]) -> Iterator[tuple[int, pd.DataFrame]]:
    offset = 0
    for chunk in chunks:
        yield offset, chunk
        offset += len(chunk)


def _release_memory() -> None:
    """Hand the heap the chunks left free back to the system (glibc keeps it otherwise: RSS stays high)."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
