import io
import json
import zipfile

import pytest
import torch
from safetensors.torch import save as save_safetensors

from audit.modelio.bundle import load_zoo_bundle, save_zoo_bundle
from audit.modelio.errors import ACCEPTED_FORMATS, ModelFormatError
from audit.modelio.zoo import build_module

CONFIG = {
    "architecture": "mlp",
    "args": {"n_inputs": 3, "n_classes": 2, "hidden": [4]},
    "encoder": None,
    "classes": ["no", "yes"],
    "features": ["a", "b", "c"],
    "outputs": "logits",
}


def _zip(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name.replace("__", "/"), content)
    return buffer.getvalue()


def _weights(module) -> bytes:
    return save_safetensors({k: v.contiguous() for k, v in module.state_dict().items()})


@pytest.fixture
def module():
    torch.manual_seed(0)
    return build_module("mlp", CONFIG["args"])


@pytest.mark.parametrize("target", ["bundle.zip", "folder", "fileobj"])
def test_round_trip_keeps_weights_and_config(module, tmp_path, target):
    x = torch.rand(5, 3)
    destination = io.BytesIO() if target == "fileobj" else tmp_path / target

    save_zoo_bundle(module, CONFIG, destination)
    source = destination.getvalue() if target == "fileobj" else destination
    loaded, config, encoder = load_zoo_bundle(source)

    assert config == CONFIG and encoder is None
    torch.testing.assert_close(loaded(x), module(x), rtol=0, atol=0)


def test_zip_with_one_top_folder_is_accepted(module):
    data = _zip(
        **{"model__config.json": json.dumps(CONFIG).encode(), "model__weights.safetensors": _weights(module)}
    )

    assert load_zoo_bundle(data).config["architecture"] == "mlp"


def test_zip_without_weights_is_refused():
    with pytest.raises(ModelFormatError, match="must contain config.json and weights.safetensors") as info:
        load_zoo_bundle(_zip(**{"config.json": json.dumps(CONFIG).encode()}))
    assert ACCEPTED_FORMATS in str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"architecture": "transformer"}, "architecture 'transformer' is not installed"),
        ({"outputs": "scores"}, "'outputs' must be one of"),
        ({"classes": "yes"}, "'classes' must be a list of strings"),
        ({"args": {"n_inputs": 3, "n_classes": 2, "width": 3}}, "cannot build its architecture"),
        (
            {"encoder": {"features": [{"name": "a", "kind": "numeric", "mean": 0, "std": 1}]}},
            "differ from 'features'",
        ),
    ],
)
def test_invalid_config_is_refused(module, change, message):
    data = _zip(
        **{"config.json": json.dumps(CONFIG | change).encode(), "weights.safetensors": _weights(module)}
    )

    with pytest.raises(ModelFormatError, match=message):
        load_zoo_bundle(data)


def test_missing_config_key_is_named(module):
    config = {k: v for k, v in CONFIG.items() if k != "classes"}
    data = _zip(**{"config.json": json.dumps(config).encode(), "weights.safetensors": _weights(module)})

    with pytest.raises(ModelFormatError, match=r"lacks keys \['classes'\]"):
        load_zoo_bundle(data)


def test_weights_of_another_shape_are_refused():
    other = build_module("mlp", {"n_inputs": 3, "n_classes": 2, "hidden": [5]})
    data = _zip(**{"config.json": json.dumps(CONFIG).encode(), "weights.safetensors": _weights(other)})

    with pytest.raises(ModelFormatError, match=r"wrong shapes.*body.0.weight: \(5, 3\) != \(4, 3\)"):
        load_zoo_bundle(data)


def test_weights_with_missing_keys_are_refused(module):
    state = {k: v for k, v in module.state_dict().items() if k != "head.bias"}
    data = _zip(
        **{"config.json": json.dumps(CONFIG).encode(), "weights.safetensors": save_safetensors(state)}
    )

    with pytest.raises(ModelFormatError, match=r"missing \['head.bias'\]"):
        load_zoo_bundle(data)


def test_weights_that_are_not_safetensors_are_refused():
    data = _zip(**{"config.json": json.dumps(CONFIG).encode(), "weights.safetensors": b"\x80\x04junk"})

    with pytest.raises(ModelFormatError, match="not a valid safetensors file"):
        load_zoo_bundle(data)
