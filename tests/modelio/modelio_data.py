"""The Adult-like frame and model helpers the modelio tests share."""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC = ["age", "hours_per_week"]
CATEGORICAL = ["workclass", "sex", "married"]
FEATURES = NUMERIC + CATEGORICAL
TARGET = "income"
POSITIVE = ">50K"


def make_frame(n: int, seed: int) -> pd.DataFrame:
    """Return an Adult-like frame whose income depends on every feature."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "hours_per_week": rng.normal(40, 10, n).round(1),
            "workclass": rng.choice(["Private", "Self-emp", "State-gov", "Federal-gov"], n),
            "sex": rng.choice(["Female", "Male"], n),
            "married": rng.integers(0, 2, n),
        }
    )
    score = (
        0.04 * (frame.age - 45)
        + 0.05 * (frame.hours_per_week - 40)
        + 0.8 * frame.married
        + 0.5 * (frame.sex == "Male")
        + 0.6 * (frame.workclass == "Self-emp")
        + rng.normal(0, 0.7, n)
    )
    frame[TARGET] = np.where(score > 0.5, ">50K", "<=50K")
    return frame


def sklearn_onnx_bytes(pipeline, frame: pd.DataFrame, zipmap: bool) -> bytes:
    """Return `pipeline` converted by skl2onnx with one named input per column."""
    return sklearn_onnx_bytes_for(pipeline, frame, FEATURES, zipmap=zipmap)


def sklearn_onnx_bytes_for(pipeline, frame: pd.DataFrame, features: list[str], zipmap: bool = False) -> bytes:
    """Return `pipeline` converted by skl2onnx with one named input per column of `features`."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    types = []
    for name in features:
        if frame[name].dtype.kind in "iu":
            types.append((name, Int64TensorType([None, 1])))
        elif frame[name].dtype.kind == "f":
            types.append((name, FloatTensorType([None, 1])))
        else:
            types.append((name, StringTensorType([None, 1])))
    options = {id(pipeline.steps[-1][1]): {"zipmap": zipmap}}
    return convert_sklearn(
        pipeline, initial_types=types, options=options, target_opset=17
    ).SerializeToString()
