"""Shared fixtures: one Adult-like frame and real models trained on it, exported to every format."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import torch

from tests.modelio.modelio_data import CATEGORICAL, FEATURES, NUMERIC, POSITIVE, TARGET, make_frame


@pytest.fixture(autouse=True)
def artifact_dir():
    """Override tests/conftest.py's Django artifact folder: audit.modelio needs no Django."""
    return None


@pytest.fixture(scope="session")
def train_frame() -> pd.DataFrame:
    return make_frame(1500, seed=1)


@pytest.fixture(scope="session")
def eval_frame() -> pd.DataFrame:
    return make_frame(300, seed=2)


@pytest.fixture(scope="session")
def sk_pipeline(train_frame):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer(
        [("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)]
    )
    return make_pipeline(columns, LogisticRegression(max_iter=500)).fit(
        train_frame[FEATURES], train_frame[TARGET]
    )


@pytest.fixture(scope="session")
def skops_bytes(sk_pipeline) -> bytes:
    import skops.io as sio

    return sio.dumps(sk_pipeline)


@pytest.fixture(scope="session")
def zoo_model(train_frame):
    from audit.modelio.training import train_zoo_model

    return train_zoo_model(
        train_frame,
        features=FEATURES,
        target=TARGET,
        positive_label=POSITIVE,
        categorical=CATEGORICAL,
        args={"hidden": [16, 8]},
        epochs=5,
        batch_size=128,
        lr=1e-2,
        seed=0,
    )


@pytest.fixture(scope="session")
def zoo_bytes(zoo_model) -> bytes:
    from audit.modelio.bundle import save_zoo_bundle

    buffer = io.BytesIO()
    save_zoo_bundle(*zoo_model, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def encoded_example(zoo_model, train_frame) -> torch.Tensor:
    from audit.modelio.encoder import EncoderSpec

    encoder = EncoderSpec.from_json(zoo_model[1]["encoder"])
    return torch.from_numpy(encoder.transform(train_frame.head(8)))


@pytest.fixture(scope="session")
def pt2_bytes(zoo_model, encoded_example) -> bytes:
    from audit.modelio.training import export_torch

    return export_torch(zoo_model[0], encoded_example)


@pytest.fixture(scope="session")
def torch_onnx_bytes(zoo_model, encoded_example) -> bytes:
    from audit.modelio.training import export_onnx

    return export_onnx(zoo_model[0], encoded_example)
