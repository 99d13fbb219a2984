"""Audits of more rows than `input_rows`: every evaluation row for FAIR-* and the accuracies, a seeded
sample for the input metrics, and a table file read in chunks giving the numbers of the in-memory path."""

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from audit import runner
from audit.datasets import Schema
from audit.modelio import load_model
from audit.splits import split_frame, target_classes
from audit.streaming import TableFile, prepare_file

FEATURES = ["age", "income", "housing"]
MODEL, FORMAT = "model.skops", "sklearn"
# small knobs: the point is which rows each metric reads, not the metrics' cost
CONFIG = {"ig_rows": 40, "sensitivity_rows": 8, "sensitivity_samples": 3, "infidelity_samples": 3, "pgd_steps": 3,
          "n_boot": 20, "query_budget": 5, "surrogate_rows": 500, "mia_rows": 300, "poisoning_rows": 300,
          "input_rows": 700}


def _frame(n=3000, seed=5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(40, 10, n)
    sex = rng.choice(["F", "M", "X"], n, p=[0.45, 0.5, 0.05])
    return pd.DataFrame({
        "age": rng.integers(18, 80, n), "income": income.round(2), "housing": rng.choice(["own", "rent", "free"], n),
        "sex": sex, "label": np.where(income + (sex == "M") * 4 + rng.normal(0, 4, n) > 42, "good", "bad"),
        "split": np.where(rng.random(n) < 0.3, "train", "test"),
    })


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A scikit-learn pipeline (skops) that one-hot encodes `housing` from the training frame's values."""
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    folder = tmp_path_factory.mktemp("scale")
    frame = _frame()
    train = frame[frame.split == "train"]
    columns = ColumnTransformer([("num", StandardScaler(), ["age", "income"]),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["housing"])])
    pipeline = make_pipeline(columns, LogisticRegression()).fit(train[FEATURES], train["label"])
    (folder / MODEL).write_bytes(sio.dumps(pipeline))
    frame.to_csv(folder / "credit.csv", index=False)
    frame.to_parquet(folder / "credit.parquet", index=False, row_group_size=500)
    return folder


def _schema():
    return Schema(target="label", positive_label="good", features=FEATURES, categorical=["housing"],
                  sensitive_attributes=["sex"], split_column="split")


def _in_memory(folder, config):
    splits = split_frame(pd.read_csv(folder / "credit.csv"), _schema())
    loaded = load_model(FORMAT, (folder / MODEL).read_bytes(), features=FEATURES,
                        categorical=["housing"], train_frame=splits.train, classes=target_classes(splits))
    prepared = runner.prepare(loaded, splits.train, splits.eval, splits.schema, started=time.perf_counter(),
                              config=config)
    return prepared, runner.audit(prepared, model_bytes=b"", fmt=FORMAT, config=config)


def _streamed(folder, name, config, chunk_rows=250):
    model = (folder / MODEL).read_bytes()

    def load(train_frame, classes, schema):
        return load_model(FORMAT, model, features=schema.features, categorical=schema.categorical,
                          train_frame=train_frame, classes=classes)

    table = TableFile(folder / name, "parquet" if name.endswith(".parquet") else "csv", chunk_rows=chunk_rows)
    prepared = prepare_file(table, _schema(), load, config=config, started=time.perf_counter())
    return prepared, runner.audit(prepared, model_bytes=b"", fmt=FORMAT, config=config)


def _values(result):
    return {k: v["value"] for k, v in result["metrics"].items()}


def test_fairness_reads_every_evaluation_row_and_the_input_metrics_a_recorded_sample(model_file):
    prepared, result = _in_memory(model_file, CONFIG)
    population = prepared.data.population
    frame = _frame()
    evaluation = frame[frame.split == "test"]
    # every evaluation row is in the population; the model inputs are held for 700 of them
    assert len(population.y) == len(evaluation) == result["dataset"]["rows_eval"]
    assert len(prepared.data.x_eval) == 700 == result["dataset"]["input_rows"]["eval"]
    assert result["samples"]["inputs (evaluation)"]["population"] == len(evaluation)
    assert result["samples"]["inputs (evaluation)"]["size"] == 700
    # the sample's rows are the population's rows at `sample`
    assert np.array_equal(prepared.data.y_eval, population.y[population.sample])
    # FAIR-01/03 against fairlearn on every evaluation row
    y = (evaluation.label == "good").to_numpy().astype(int)
    yhat = (population.yhat == prepared.data.positive_index).astype(int)
    assert result["metrics"]["FAIR-01"]["value"] == pytest.approx(
        demographic_parity_difference(y, yhat, sensitive_features=evaluation.sex.to_numpy()), abs=1e-12)
    assert result["metrics"]["FAIR-03"]["value"] == pytest.approx(
        equalized_odds_difference(y, yhat, sensitive_features=evaluation.sex.to_numpy()), abs=1e-12)
    assert result["baseline"]["accuracy"] == pytest.approx(float(np.mean(population.y == population.yhat)))


def test_fairness_is_the_same_whatever_input_rows_is(model_file):
    _, sampled = _in_memory(model_file, CONFIG)
    _, whole = _in_memory(model_file, {**CONFIG, "input_rows": 100_000})
    assert "inputs (evaluation)" not in whole["samples"]
    for metric in ("FAIR-01", "FAIR-02", "FAIR-03", "FAIR-04", "FAIR-05", "FAIR-06"):
        assert sampled["metrics"][metric]["value"] == pytest.approx(whole["metrics"][metric]["value"], abs=1e-12), metric
        assert sampled["metrics"][metric]["details"].get("ci95") == whole["metrics"][metric]["details"].get("ci95")


@pytest.mark.parametrize("name", ["credit.csv", "credit.parquet"])
def test_a_file_read_in_chunks_gives_every_number_of_the_in_memory_audit(model_file, name):
    _, memory = _in_memory(model_file, CONFIG)
    prepared, streamed = _streamed(model_file, name, CONFIG)
    assert streamed["dataset"] == memory["dataset"]
    assert streamed["samples"] == memory["samples"]
    assert _values(streamed) == pytest.approx(_values(memory), abs=1e-9, nan_ok=True)
    assert streamed["baseline"] == memory["baseline"]


def test_a_file_with_fewer_rows_than_input_rows_is_read_whole(model_file):
    config = {**CONFIG, "input_rows": 100_000}
    _, memory = _in_memory(model_file, config)
    prepared, streamed = _streamed(model_file, "credit.parquet", config)
    assert prepared.data.population is None
    assert _values(streamed) == pytest.approx(_values(memory), abs=1e-9, nan_ok=True)


def test_streamed_rows_the_model_refuses_are_dropped_and_counted(model_file, tmp_path):
    frame = _frame()
    frame.loc[frame.index % 50 == 0, "income"] = np.nan  # the pipeline's scaler passes NaN; the model refuses it
    frame.to_parquet(tmp_path / "credit.parquet", index=False, row_group_size=400)
    (tmp_path / MODEL).write_bytes((model_file / MODEL).read_bytes())
    prepared, result = _streamed(tmp_path, "credit.parquet", CONFIG)
    missing = frame[frame.income.isna()]
    assert result["dataset"]["rows_dropped"]["count"] == len(missing)
    assert result["dataset"]["rows_dropped"]["eval"] == int((missing.split == "test").sum())
    assert result["dataset"]["rows_eval"] == int(((frame.split == "test") & frame.income.notna()).sum())
    assert np.isfinite(prepared.data.x_eval).all()


def test_a_bad_target_in_a_streamed_file_is_one_clear_error(model_file, tmp_path):
    frame = _frame()
    frame["label"] = "good"
    frame.to_parquet(tmp_path / "one.parquet", index=False)
    (tmp_path / MODEL).write_bytes((model_file / MODEL).read_bytes())
    with pytest.raises(ValueError, match="only one class"):
        _streamed(tmp_path, "one.parquet", CONFIG)


def test_audit_file_reads_parquet_in_chunks_in_the_sandbox(db, model_file, tmp_path):
    out = tmp_path / "out.json"
    call_command("audit_file", "--data", str(model_file / "credit.parquet"), "--target", "label",
                 "--positive-label", "good", "--sensitive", "sex", "--model", str(model_file / MODEL),
                 "--format", FORMAT, "--split-column", "split", "--features", *FEATURES,
                 "--categorical", "housing", "--json", str(out), "--stream", "--config", json.dumps(CONFIG))
    result = json.loads(Path(out).read_text())
    _, memory = _in_memory(model_file, CONFIG)
    assert result["dataset"]["rows_eval"] == memory["dataset"]["rows_eval"]
    assert _values(result) == pytest.approx(_values(memory), abs=1e-9, nan_ok=True)
