"""Shared Adult fixtures: the seeded MLP of the benchmark, its audit inputs and one audit result."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from audit.metrics.base import AuditModel  # noqa: E402
from audit.metrics.engine import run_audit, validate_config  # noqa: E402
from audit.metrics.state import AuditState  # noqa: E402
from bench.audit_bench import DEFAULT_DATA, build_audit_inputs  # noqa: E402


@pytest.fixture(scope="session")
def adult():
    """(AuditModel, AuditData, torch module) for the seeded Adult MLP."""
    torch.set_num_threads(2)
    return build_audit_inputs(DEFAULT_DATA, epochs=2, seed=0)


@pytest.fixture(scope="session")
def adult_result(adult):
    model, data, _ = adult
    return run_audit(model, data, device="cpu")


@pytest.fixture(scope="session")
def adult_state(adult):
    """A fresh state with the default config, for reading the perturbation space and rows."""
    model, data, _ = adult
    return AuditState(model, data, validate_config(), device="cpu")


@pytest.fixture(scope="session")
def black_box(adult):
    """The same MLP seen only through numpy `predict_proba` (as an onnx model would be)."""
    model, _, _ = adult
    return AuditModel(format="onnx", classes=model.classes, predict=model.predict,
                      predict_proba=model.predict_proba, outputs="probabilities")


@pytest.fixture(scope="session")
def black_box_result(adult, black_box):
    _, data, _ = adult
    return run_audit(black_box, data, device="cpu")


@pytest.fixture(autouse=True)
def artifact_dir():
    """Override the Django suite's autouse fixture: the metric engine needs no settings or storage."""
    return None
