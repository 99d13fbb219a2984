"""Split a dataset table into the training and evaluation rows an audit reads (no Django).

Shared by the registry (web and worker processes) and the sandboxed child that runs the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .datasets import Schema, split_mask, split_missing

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Splits", "split_frame", "target_classes"]


@dataclass
class Splits:
    """Training and evaluation rows, and the rows left out before the model saw any: {reason: count}."""

    train: pd.DataFrame
    eval: pd.DataFrame
    schema: Schema
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def dropped_missing(self) -> int:
        return sum(self.dropped.values())


def split_frame(frame: pd.DataFrame, schema: Schema) -> Splits:
    """Return the training and evaluation rows.

    Rows with missing feature values stay: whether the model can take them is the model's to say
    (`runner.prepare` asks it). Only rows that cannot be placed are dropped, and counted: a missing
    target, or a blank cell in the split column. A missing sensitive value is its own group.
    """
    schema = schema.resolved(frame)
    dropped: dict[str, int] = {}
    target = frame[schema.target]
    keep = ~(target.isna() | target.astype(object).map(lambda v: str(v).strip() == "")).to_numpy()
    if (~keep).any():
        dropped[f"missing target ({schema.target})"] = int((~keep).sum())
    if schema.split_column:
        blank = split_missing(frame[schema.split_column]).to_numpy() & keep
        if blank.any():
            dropped[f"blank split cell ({schema.split_column})"] = int(blank.sum())
        keep &= ~blank
    placed = frame[keep].reset_index(drop=True)
    train = split_mask(placed, schema)
    return Splits(placed[train].reset_index(drop=True), placed[~train].reset_index(drop=True), schema, dropped)


def target_classes(splits: Splits) -> list[str]:
    """Return the class values a model without declared classes is assumed to have: the sorted targets."""
    import pandas as pd

    from .modelio.encoder import category_key

    values = pd.concat([splits.train[splits.schema.target], splits.eval[splits.schema.target]]).dropna().unique()
    return [category_key(v) for v in sorted(values)]
