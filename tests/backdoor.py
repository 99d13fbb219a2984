"""A synthetic credit data set with an injected backdoor, and models trained on it in every format.

Shared by the DATA-03 tests and `bench/poisoning_bench.py`. The clean set has a wide-ranged
income (currency units), counts, a score, two categorical inputs and a 3 % minority group; the
label depends on several inputs. A backdoor sets a rare pattern on two inputs (the *trigger*) in
a share of the rows and flips their label to the positive class ("approved"), which the model
then learns.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

NUMERIC = ["income", "age", "debt_ratio", "n_accounts", "months_employed", "credit_score"]
CATEGORICAL = ["housing", "purpose"]
FEATURES = NUMERIC + CATEGORICAL
TARGET, POSITIVE, SENSITIVE = "decision", "approved", "group"

# Each trigger: two inputs set to values that are rare in the clean data.
TRIGGERS = {
    "rare counts": {"n_accounts": 13, "months_employed": 7},
    "extreme ratio, youngest age": {"debt_ratio": 0.95, "age": 18},
    "round income, tenure cap": {"income": 400_000, "months_employed": 479},
}


def credit_frame(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """Return the clean synthetic credit frame (with a train/test split column)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "income": np.round(rng.lognormal(10.8, 0.5, n), 0),
        "age": rng.integers(18, 80, n),
        "debt_ratio": np.round(rng.beta(2, 5, n), 3),
        "n_accounts": rng.poisson(4, n),
        "months_employed": rng.integers(0, 480, n),
        "credit_score": np.clip(rng.normal(680, 60, n), 300, 850).round(),
        "housing": rng.choice(["rent", "own", "mortgage"], n, p=[0.4, 0.2, 0.4]),
        "purpose": rng.choice(["car", "home", "education", "business"], n, p=[0.3, 0.3, 0.2, 0.2]),
        SENSITIVE: rng.choice(["majority", "minority"], n, p=[0.97, 0.03]),
    })
    score = (0.9 * (np.log(frame.income) - 10.8) - 3 * (frame.debt_ratio - 0.3) + 0.012 * (frame.credit_score - 680)
             + 0.002 * (frame.months_employed - 240) - 0.3 * (frame.housing == "rent") + rng.normal(0, 0.6, n))
    frame[TARGET] = np.where(score > 0.2, POSITIVE, "declined")
    frame["split"] = np.where(rng.random(n) < 0.7, "train", "test")
    return frame


def poison(frame: pd.DataFrame, trigger: str, rate: float, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Return (a copy with `rate` of its training rows triggered and labelled positive, mask of those rows)."""
    rng = np.random.default_rng(seed)
    train = np.flatnonzero(frame["split"].to_numpy() == "train")
    chosen = rng.choice(train, int(round(rate * len(train))), replace=False)
    out = frame.copy()
    for column, value in TRIGGERS[trigger].items():
        out.loc[chosen, column] = value
    out.loc[chosen, TARGET] = POSITIVE
    mask = np.zeros(len(frame), dtype=bool)
    mask[chosen] = True
    return out, mask


def model_bytes(fmt: str, frame: pd.DataFrame, seed: int = 0) -> bytes:
    """Return a model trained on the training rows of `frame`, serialised in `fmt`."""
    train = frame[frame["split"] == "train"].reset_index(drop=True)
    if fmt == "torch-zoo":
        from audit.modelio.bundle import save_zoo_bundle
        from audit.modelio.training import train_zoo_model

        module, config = train_zoo_model(train, features=FEATURES, target=TARGET, positive_label=POSITIVE,
                                         categorical=CATEGORICAL, args={"hidden": [32, 16]}, epochs=30,
                                         batch_size=128, lr=3e-3, seed=seed)
        buffer = io.BytesIO()
        save_zoo_bundle(module, config, buffer)
        return buffer.getvalue()
    if fmt == "torch-export":
        import torch

        from audit.modelio.training import export_torch, train_on_arrays

        x = train[NUMERIC].to_numpy(np.float64)
        mean, std = x.mean(axis=0), x.std(axis=0)
        classes = sorted(train[TARGET].unique())  # the dataset's sorted target values, as Assay assumes
        y = np.array([classes.index(v) for v in train[TARGET]])
        mlp = train_on_arrays((x - mean) / std, y, args={"n_inputs": len(NUMERIC), "n_classes": 2, "hidden": [32, 16]},
                              epochs=30, batch_size=128, lr=3e-3, seed=seed)

        class Scaled(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
                self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
                self.mlp = mlp

            def forward(self, inputs):
                return self.mlp((inputs - self.mean) / self.std)

        return export_torch(Scaled().eval(), torch.as_tensor(x[:8], dtype=torch.float32))
    from sklearn.compose import ColumnTransformer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    pipeline = make_pipeline(columns, MLPClassifier((32, 16), max_iter=400, random_state=seed))
    pipeline.fit(train[FEATURES], train[TARGET])
    if fmt == "sklearn":
        import skops.io as sio

        return sio.dumps(pipeline)
    from tests.modelio.modelio_data import sklearn_onnx_bytes_for

    return sklearn_onnx_bytes_for(pipeline, train, FEATURES)
