import io
from pathlib import Path

import pandas as pd
import pytest
import torch

from audit.modelio.bundle import save_zoo_bundle
from audit.modelio.encoder import EncoderSpec
from audit.modelio.loaders import load_model, validate_contract
from audit.modelio.training import train_zoo_model
from tests.modelio.modelio_data import CATEGORICAL, FEATURES, POSITIVE, TARGET


def _train(frame, seed):
    return train_zoo_model(
        frame.head(400),
        features=FEATURES,
        target=TARGET,
        positive_label=POSITIVE,
        categorical=CATEGORICAL,
        args={"hidden": [8]},
        epochs=2,
        batch_size=64,
        seed=seed,
    )


def test_seeded_training_is_reproducible(train_frame):
    first, config = _train(train_frame, seed=3)
    second, _ = _train(train_frame, seed=3)
    other, _ = _train(train_frame, seed=4)

    for key, value in first.state_dict().items():
        torch.testing.assert_close(value, second.state_dict()[key], rtol=0, atol=0)
    assert not torch.equal(first.state_dict()["head.weight"], other.state_dict()["head.weight"])
    assert config["classes"] == ["<=50K", ">50K"]


def test_training_leaves_the_global_random_state_alone(train_frame):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)

    _train(train_frame, seed=0)

    torch.testing.assert_close(torch.rand(3), expected)


def test_config_describes_the_model(zoo_model, train_frame):
    module, config = zoo_model
    encoder = EncoderSpec.from_json(config["encoder"])

    assert config["architecture"] == "mlp" and config["outputs"] == "logits"
    assert config["args"] == {"n_inputs": len(encoder.columns), "n_classes": 2, "hidden": [16, 8]}
    assert config["features"] == FEATURES and config["positive_label"] == ">50K"
    x = torch.from_numpy(encoder.transform(train_frame))
    y = torch.tensor((train_frame[TARGET] == ">50K").to_numpy(), dtype=torch.long)
    accuracy = (module(x).argmax(dim=1) == y).float().mean().item()
    assert accuracy > 0.75


ADULT = Path("/work/shared/datasets/adult.csv")


@pytest.mark.skipif(not ADULT.exists(), reason="the shared Adult dataset is not present")
def test_zoo_model_on_real_adult_rows_loads_and_honours_the_contract():
    frame = pd.read_csv(ADULT).sample(2000, random_state=0)
    features = [
        "age",
        "workclass",
        "education_num",
        "marital_status",
        "sex",
        "hours_per_week",
        "capital_gain",
    ]
    module, config = train_zoo_model(
        frame, features=features, target="income", positive_label=">50K", epochs=2, seed=0
    )
    buffer = io.BytesIO()
    save_zoo_bundle(module, config, buffer)

    loaded = load_model("torch-zoo", buffer.getvalue(), features=features, categorical=["sex"])

    assert loaded.classes == ["<=50K", ">50K"]
    assert "workclass=Private" in loaded.design_matrix(frame)[1]
    validate_contract(loaded, frame)
