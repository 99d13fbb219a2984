"""Split a dataset table into the training and evaluation rows an audit reads (no Django).

Shared by the registry (web and worker processes) and the sandboxed child that runs the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .datasets import Schema, split_mask

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Splits", "split_frame", "target_classes"]


@dataclass
class Splits:
    train: pd.DataFrame
    eval: pd.DataFrame
    schema: Schema
    dropped_missing: int


def split_frame(frame: pd.DataFrame, schema: Schema) -> Splits:
    """Return the rows with every used column present, split into training and evaluation rows."""
    schema = schema.resolved(frame)
    used = list(dict.fromkeys([*schema.features, schema.target, *schema.sensitive_attributes]))
    complete = frame.dropna(subset=used).reset_index(drop=True)
    train = split_mask(complete, schema)
    return Splits(complete[train].reset_index(drop=True), complete[~train].reset_index(drop=True), schema,
                  len(frame) - len(complete))


def target_classes(splits: Splits) -> list[str]:
    """Return the class values a model without declared classes is assumed to have: the sorted targets."""
    import pandas as pd

    from .modelio.encoder import category_key

    values = pd.concat([splits.train[splits.schema.target], splits.eval[splits.schema.target]]).dropna().unique()
    return [category_key(v) for v in sorted(values)]
