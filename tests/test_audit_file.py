"""`manage.py audit_file`: audit a model file on a CSV without registering anything."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.modelio.bundle import save_zoo_bundle
from audit.modelio.encoder import EncoderSpec
from audit.modelio.training import export_onnx, export_torch, train_zoo_model
from audit.models import AuditRun, ModelVersion

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ["age", "income", "housing"]


def _frame(n=400, seed=3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(40, 10, n)
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6])
    return pd.DataFrame({
        "age": rng.integers(18, 80, n), "income": income.round(2), "housing": rng.choice(["own", "rent"], n),
        "sex": sex, "label": np.where(income + (sex == "M") * 4 + rng.normal(0, 4, n) > 42, "good", "bad"),
        "split": np.where(np.arange(n) < 0.7 * n, "train", "test"),
    })


@pytest.fixture
def files(tmp_path):
    frame = _frame()
    data = tmp_path / "credit.csv"
    frame.to_csv(data, index=False)
    train = frame[frame.split == "train"]
    module, config = train_zoo_model(train, features=FEATURES, target="label", positive_label="good",
                                     args={"hidden": [8]}, epochs=30, lr=1e-2)
    save_zoo_bundle(module, config, tmp_path / "zoo")  # a folder, as the command line accepts
    encoded = torch.from_numpy(EncoderSpec.from_json(config["encoder"]).transform(train.head(4)))
    (tmp_path / "model.pt2").write_bytes(export_torch(module, encoded))
    return {"data": data, "zoo": tmp_path / "zoo", "pt2": tmp_path / "model.pt2", "config": config,
            "module": module, "tmp": tmp_path}


def _audit(files, model, fmt, out, *extra):
    call_command("audit_file", "--data", str(files["data"]), "--target", "label", "--positive-label", "good",
                 "--sensitive", "sex", "--model", str(model), "--format", fmt, "--split-column", "split",
                 "--json", str(out), "--config", '{"ig_rows": 50, "sensitivity_rows": 10}', *extra)
    return json.loads(Path(out).read_text())


def test_it_audits_a_zoo_folder_without_registering_anything(db, files):
    result = _audit(files, files["zoo"], "torch-zoo", files["tmp"] / "out.json")
    assert len(result["metrics"]) == 23
    assert result["dataset"] == {"rows_train": 280, "rows_eval": 120, "sensitive_attributes": ["sex"],
                                 "rows_dropped": {"count": 0, "train": 0, "eval": 0, "reasons": {}},
                                 "input_rows": {"train": 280, "eval": 120}}
    assert result["metrics"]["TRANS-01"]["status"] == "not_applicable"
    assert result["metrics"]["TRANS-01"]["reason"]
    assert not ModelVersion.objects.exists() and not AuditRun.objects.exists()


def _encoded_csv(files) -> tuple[Path, list[str]]:
    """Return a CSV of the zoo encoder's columns (what a .pt2 or .onnx export takes) plus sex, label, split."""
    encoder = EncoderSpec.from_json(files["config"]["encoder"])
    frame = pd.read_csv(files["data"])
    encoded = pd.DataFrame(encoder.transform(frame), columns=[f"c{i}" for i in range(len(encoder.columns))])
    path = files["tmp"] / "encoded.csv"
    pd.concat([encoded, frame[["sex", "label", "split"]]], axis=1).to_csv(path, index=False)
    return path, list(encoded.columns)


def test_exports_of_the_same_model_give_the_same_numbers(db, files):
    # given: the zoo model, its torch.export program and its ONNX export, the latter two on encoded inputs
    encoded_csv, columns = _encoded_csv(files)
    example = torch.from_numpy(pd.read_csv(encoded_csv)[columns].head(4).to_numpy(dtype=np.float32))
    (files["tmp"] / "model.onnx").write_bytes(export_onnx(files["module"], example))

    # when: each is audited from its file
    zoo = _audit(files, files["zoo"], "torch-zoo", files["tmp"] / "zoo.json")
    pt2 = _audit({**files, "data": encoded_csv}, files["pt2"], "torch-export", files["tmp"] / "pt2.json",
                 "--features", *columns)
    onnx = _audit({**files, "data": encoded_csv}, files["tmp"] / "model.onnx", "onnx", files["tmp"] / "onnx.json",
                  "--features", *columns)

    # then: fairness agrees for all three; the differentiable export also agrees on the gradient attacks
    for mid in ("FAIR-01", "FAIR-02", "FAIR-03", "FAIR-04", "FAIR-05", "FAIR-06", "PRIV-03"):
        assert pt2["metrics"][mid]["value"] == pytest.approx(zoo["metrics"][mid]["value"], abs=1e-12), mid
        assert onnx["metrics"][mid]["value"] == pytest.approx(zoo["metrics"][mid]["value"], abs=1e-12), mid
    for mid in ("ROB-01", "ROB-02"):
        assert pt2["metrics"][mid]["value"] == pytest.approx(zoo["metrics"][mid]["value"], abs=1e-6), mid
    assert "surrogate" in json.dumps(onnx["metrics"]["ROB-01"]["details"]).lower()
    assert "ablation" in json.dumps(onnx["metrics"]["EXPL-01"]["details"]).lower()


def test_it_exits_non_zero_with_a_one_line_reason(db, files, tmp_path):
    with pytest.raises(CommandError, match="not in the file"):
        call_command("audit_file", "--data", str(files["data"]), "--target", "nope", "--positive-label", "good",
                     "--model", str(files["zoo"]), "--format", "torch-zoo", "--json", str(tmp_path / "x.json"))
    proc = subprocess.run(
        [sys.executable, "manage.py", "audit_file", "--data", str(files["data"]), "--target", "label",
         "--positive-label", "good", "--model", str(files["data"]), "--format", "onnx", "--json",
         str(tmp_path / "y.json")], cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "accepted formats" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "y.json").exists()
