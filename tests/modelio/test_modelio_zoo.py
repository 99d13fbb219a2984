from importlib.metadata import EntryPoint

import pytest
import torch
from torch import nn

from audit.modelio import zoo


@pytest.mark.parametrize(
    ("name", "args", "shape", "width"),
    [
        ("logreg", {"n_inputs": 5, "n_classes": 3}, (4, 5), 5),
        ("mlp", {"n_inputs": 5, "n_classes": 2, "hidden": [8, 6], "dropout": 0.1}, (4, 5), 6),
        ("cnn", {"in_channels": 3, "height": 12, "width": 10, "n_classes": 4}, (4, 3, 12, 10), 64),
    ],
)
def test_architectures_give_logits_and_representations(name, args, shape, width):
    module = zoo.build_module(name, args)
    x = torch.rand(shape)

    assert module(x).shape == (4, args["n_classes"])
    assert module.features(x).shape == (4, width)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
    assert not module.training


def test_unknown_architecture_lists_known_ones():
    with pytest.raises(KeyError, match="known: cnn, logreg, mlp"):
        zoo.get_architecture("resnet")


def test_bad_arguments_are_a_value_error():
    with pytest.raises(ValueError, match="bad arguments for architecture 'mlp'"):
        zoo.build_module("mlp", {"n_inputs": 3, "depth": 2})


def test_entry_points_add_architectures(monkeypatch):
    plugin = EntryPoint(name="tiny", value="torch.nn:Linear", group=zoo.ENTRY_POINT_GROUP)
    shadow = EntryPoint(name="mlp", value="torch.nn:Identity", group=zoo.ENTRY_POINT_GROUP)
    monkeypatch.setattr(zoo, "entry_points", lambda group: [plugin, shadow] if group == "assay.zoo" else [])

    assert zoo.available_architectures() == ["cnn", "logreg", "mlp", "tiny"]
    assert isinstance(zoo.build_module("tiny", {"in_features": 2, "out_features": 2}), nn.Linear)
    assert zoo.get_architecture("mlp") is zoo.MLP


def test_register_refuses_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):
        zoo.register("mlp")(zoo.LogReg)
