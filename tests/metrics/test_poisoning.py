"""DATA-03 finds a backdoor in every model format and stays within its pass threshold on clean data.

The data and models come from tests/backdoor.py: a synthetic credit set whose income is in
currency units (the wide-ranged column that hid backdoors before the inputs were standardised),
a trigger on two inputs in 3-5 % of the training rows, labels flipped to "approved", and a model
of each format trained on it (so it learns the backdoor).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from audit import runner
from audit.datasets import Schema
from audit.metrics import data as dg
from audit.metrics.engine import validate_config
from audit.metrics.state import AuditState
from audit.modelio import load_model
from audit.splits import split_frame, target_classes
from tests import backdoor as bd

FORMATS = ("torch-zoo", "torch-export", "sklearn", "onnx")
CASES = (("rare counts", 0.03), ("round income, tenure cap", 0.05))
# Share of the sampled poisoned rows each format must flag (bench/poisoning_bench.py has the full grid;
# the zoo model's penultimate layer separates these triggers less cleanly than standardised inputs).
MIN_RECALL = {"torch-zoo": 0.5, "torch-export": 0.9, "sklearn": 0.9, "onnx": 0.9}


def _data03(fmt: str, frame, model: bytes):
    numeric_only = fmt == "torch-export"
    schema = Schema(target=bd.TARGET, positive_label=bd.POSITIVE, features=bd.NUMERIC if numeric_only else bd.FEATURES,
                    categorical=[] if numeric_only else bd.CATEGORICAL, sensitive_attributes=[bd.SENSITIVE],
                    split_column="split")
    splits = split_frame(frame, schema)
    loaded = load_model(fmt, model, features=splits.schema.features, categorical=splits.schema.categorical,
                        train_frame=splits.train, classes=target_classes(splits))
    prepared = runner.prepare(loaded, splits.train, splits.eval, splits.schema, started=time.perf_counter())
    state = AuditState(loaded.to_audit_model(), prepared.data, validate_config())
    return dg.poisoning_outcome(state)


@pytest.fixture(scope="module")
def clean():
    return bd.credit_frame()


@pytest.mark.parametrize("fmt", FORMATS)
def test_backdoors_are_flagged_and_clean_data_passes(fmt, clean):
    outcome = _data03(fmt, clean, bd.model_bytes(fmt, clean))
    assert outcome.value <= 0.01, f"{fmt}: clean data flagged {outcome.value:.4f}"
    expected = "penultimate layer" if fmt == "torch-zoo" else "standardised encoded inputs"
    assert outcome.details["representations"] == expected and outcome.details["k"] == dg.SPECTRAL_K

    train_rows = np.flatnonzero(clean["split"].to_numpy() == "train")
    for trigger, rate in CASES:
        frame, poisoned = bd.poison(clean, trigger, rate)
        outcome = _data03(fmt, frame, bd.model_bytes(fmt, frame))
        poisoned_train = set(np.flatnonzero(poisoned[train_rows]).tolist())
        sampled = outcome.details["rows"] / len(train_rows)  # share of training rows the scan drew
        flagged = set(outcome.details["flagged_rows"])
        recall = len(flagged & poisoned_train) / (len(poisoned_train) * sampled)
        assert outcome.value > 0.01, f"{fmt} {trigger} @ {rate}: DATA-03 {outcome.value:.4f} passes"
        assert recall >= MIN_RECALL[fmt], f"{fmt} {trigger} @ {rate}: flagged {recall:.2f} of the poisoned rows"
        assert outcome.details["flagged_count"] == len(flagged)  # every flagged row is listed (< 500 here)


def test_standardising_is_what_finds_it(clean):
    """On raw inputs the income column owns the top singular vector and the trigger is invisible."""
    frame, poisoned = bd.poison(clean, "rare counts", 0.03)
    train = frame[frame["split"] == "train"]
    x = train[bd.NUMERIC].to_numpy(np.float64)
    y = (train[bd.TARGET] == bd.POSITIVE).to_numpy(int)
    truth = poisoned[clean["split"].to_numpy() == "train"]
    raw = dg.spectral_flags(x, y)
    standardised = dg.spectral_flags(dg.standardised(x, x), y)
    assert raw[truth].mean() < 0.1 and standardised[truth].mean() > 0.9
