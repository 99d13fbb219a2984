"""Tabular dataset parsing, schema validation and the train/evaluation split (no Django)."""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.errors import AssayError

if TYPE_CHECKING:  # pandas and NumPy load when a table is first parsed, not when the web process starts
    import numpy as np
    import pandas as pd

MiB = 1024 * 1024

class DatasetError(AssayError):
    """The file or its schema is unusable; `fields` maps schema fields to messages."""


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
    import pandas as pd
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


@dataclass(frozen=True)
class Limits:
    """How big a table may be; the defaults are the settings' defaults (ASSAY_MAX_DATASET_*)."""

    rows: int = 1_000_000
    columns: int = 10_000
    cells: int = 20_000_000  # rows × columns
    decoded_bytes: int = 1024 * MiB  # a Parquet file's data once decompressed and decoded

    @classmethod
    def from_settings(cls) -> Limits:
        """Return the limits the settings give, or the defaults where Django is not configured (a sandbox)."""
        try:
            from django.conf import settings
            from django.core.exceptions import ImproperlyConfigured
        except ImportError:
            return cls()
        try:
            return cls(rows=int(getattr(settings, "ASSAY_MAX_DATASET_ROWS", cls.rows)),
                       columns=int(getattr(settings, "ASSAY_MAX_DATASET_COLUMNS", cls.columns)),
                       cells=int(getattr(settings, "ASSAY_MAX_DATASET_CELLS", cls.cells)),
                       decoded_bytes=int(getattr(settings, "ASSAY_MAX_DATASET_MB", cls.decoded_bytes // MiB)) * MiB)
        except ImproperlyConfigured:  # no settings (the sandbox's child): the defaults
            return cls()


# A CSV header record is read within this many bytes per allowed column (at least HEADER_MIN_BYTES).
HEADER_BYTES_PER_COLUMN = 128
HEADER_MIN_BYTES = 1 * MiB
# A Parquet footer (the file's metadata) larger than this is refused before it is parsed.
PARQUET_MAX_FOOTER = 64 * MiB


def parse_table(data: bytes, fmt: str, limits: Limits | None = None) -> pd.DataFrame:
    """Return the table in `data`, raising DatasetError when it cannot be parsed or is too big.

    Rows and columns are counted by the real parsers before the table is built: a Parquet file's
    metadata, the CSV module on a CSV's header record (quoted newlines included) and pandas' CSV
    tokenizer on its rows, so a refusal costs little whatever the file claims.
    """
    import pandas as pd
    limits = limits or Limits.from_settings()
    if not data:
        raise DatasetError("The file is empty")
    try:
        frame = _parse_parquet(data, limits) if fmt == "parquet" else _parse_csv(data, limits)
    except DatasetError:
        raise
    except (ValueError, UnicodeDecodeError, OSError, csv.Error, pd.errors.ParserError, MemoryError) as exc:
        raise DatasetError(f"Could not parse the {fmt.upper()} file: {_first_line(exc)}") from None
    _check_size(len(frame), frame.shape[1], limits)
    if frame.empty:
        raise DatasetError("The file holds no rows")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _check_size(rows: int, columns: int, limits: Limits) -> None:
    if columns > limits.columns:
        raise DatasetError(f"The file has {columns:,} columns; at most {limits.columns:,} columns are accepted")
    if rows > limits.rows:
        raise DatasetError(f"The file has more than {limits.rows:,} rows, the limit")
    if rows * columns > limits.cells:
        raise DatasetError(f"The file has {rows:,} rows × {columns:,} columns; at most {limits.cells:,} cells "
                           "are accepted")


def _parse_csv(data: bytes, limits: Limits) -> pd.DataFrame:
    import pandas as pd

    width = csv_header_width(data, limits)
    if width == 0:
        raise DatasetError("Could not parse the CSV file: no header row")
    cap = min(limits.rows, max(limits.cells // width, 1))
    if _record_bound(data) > cap:
        # Possibly too long: count the records with pandas' tokenizer, keeping one column only.
        rows = len(pd.read_csv(io.BytesIO(data), usecols=[0], nrows=cap + 1, dtype=str))
        _check_size(rows, width, limits)
    return pd.read_csv(io.BytesIO(data), low_memory=False, nrows=cap + 1)


def _record_bound(data: bytes) -> int:
    """Return an upper bound on the CSV's records: one per line break (\n, \r or \r\n), plus one."""
    lf, cr = data.count(b"\n"), data.count(b"\r")
    return lf + cr - (data.count(b"\r\n") if cr else 0) + 1


def csv_header_width(data: bytes, limits: Limits | None = None) -> int:
    """Return the number of columns of the CSV's header record, as the CSV module parses it.

    Quoted fields may hold commas and line breaks; blank lines before the header are skipped (as
    pandas does). The record must end within a bounded prefix, and its width within the limit.
    """
    limits = limits or Limits.from_settings()
    budget = max(HEADER_MIN_BYTES, HEADER_BYTES_PER_COLUMN * limits.columns)
    head = data[:budget]
    text = codecs.getincrementaldecoder("utf-8-sig")("strict").decode(head, final=len(head) == len(data))
    consumed = 0

    def lines():
        nonlocal consumed
        for line in io.StringIO(text, newline=""):
            consumed += len(line)
            yield line

    header: list[str] = []
    for record in csv.reader(lines()):
        if record:
            header = record
            break
    if len(head) < len(data) and consumed >= len(text):
        raise DatasetError(f"The header row is longer than {budget:,} bytes: too many columns (at most "
                           f"{limits.columns:,} are accepted) or names too long")
    if len(header) > limits.columns:
        raise DatasetError(f"The file has {len(header):,} columns; at most {limits.columns:,} columns are accepted")
    return len(header)


def _parse_parquet(data: bytes, limits: Limits) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if len(data) < 12 or data[-4:] != b"PAR1":
        raise DatasetError("Could not parse the PARQUET file: it does not end like a Parquet file")
    footer = int.from_bytes(data[-8:-4], "little")
    if footer > min(PARQUET_MAX_FOOTER, len(data) - 12):
        raise DatasetError(f"Could not parse the PARQUET file: its metadata is {footer:,} bytes "
                           f"(at most {PARQUET_MAX_FOOTER:,}, and within the file)")
    parquet = pq.ParquetFile(io.BytesIO(data))
    meta, schema = parquet.metadata, parquet.schema_arrow
    groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    rows = max(meta.num_rows, sum(g.num_rows for g in groups))
    _check_size(rows, max(len(schema), meta.num_columns), limits)
    nested = [f for f in schema if pa.types.is_nested(f.type)]
    if nested:
        raise DatasetError(f"Column {nested[0].name!r} holds nested values ({nested[0].type}); Assay reads flat "
                           "tables of numbers and text")
    stored = sum(g.column(j).total_uncompressed_size for g in groups for j in range(g.num_columns))
    if stored > limits.decoded_bytes:
        raise DatasetError(f"The file's data decompresses to {stored:,} bytes; at most {limits.decoded_bytes:,} "
                           "are accepted")
    # Text columns are read dictionary-encoded (a value repeated a million times is stored once) and
    # their decoded size summed from the value lengths, before anything is decoded for real.
    text = [f.name for f in schema if _is_text(pa, f.type)]
    decoded = sum(rows * (f.type.bit_width // 8) for f in schema if pa.types.is_primitive(f.type)
                  and not _is_text(pa, f.type) and f.type.bit_width > 1)
    if text:
        table = pq.read_table(io.BytesIO(data), columns=text, read_dictionary=text)
        for column in table.columns:
            for chunk in column.chunks:
                if isinstance(chunk, pa.DictionaryArray):
                    lengths = pc.binary_length(chunk.dictionary)
                    decoded += (pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0) + 8 * len(chunk)
                else:
                    decoded += chunk.nbytes
                if decoded > limits.decoded_bytes:
                    break
        del table
    if decoded > limits.decoded_bytes:
        raise DatasetError(f"The file's values take more than {limits.decoded_bytes:,} bytes once decoded, "
                           "the limit (a value repeated on every row?)")
    return pd.read_parquet(io.BytesIO(data))


def _is_text(pa, kind) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind) or pa.types.is_string_view(kind) or pa.types.is_binary_view(kind))


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
    present = frame[column][~split_missing(frame[column])]
    values = set(present.astype(str).str.strip().str.lower().unique())
    if not {"train", "test"} <= values or values - {"train", "test", "eval", "validation"}:
        return {"split_column": f"Split column {column!r} must hold 'train' and 'test' (found {sorted(values)[:5]})"}
    return {}


def split_missing(column: pd.Series) -> pd.Series:
    """Return True where a split cell is blank or missing (such rows are dropped, and counted)."""
    return column.isna() | column.astype(object).map(lambda v: str(v).strip() == "")


def split_mask(frame: pd.DataFrame, schema: Schema, *, seed: int = 0) -> np.ndarray:
    """Return a boolean mask that is True for training rows (seeded when there is no split column)."""
    import numpy as np
    if schema.split_column:
        return frame[schema.split_column].astype(str).str.strip().str.lower().eq("train").to_numpy()
    rng = np.random.default_rng(seed)
    n = len(frame)
    eval_rows = rng.permutation(n)[: int(round(schema.test_size * n))]
    mask = np.ones(n, dtype=bool)
    mask[eval_rows] = False
    return mask
