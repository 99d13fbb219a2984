"""Safe model loading and the torch model zoo; knows nothing of Django.

Formats: torch-zoo (zip: config.json + weights.safetensors), torch-export (.pt2), onnx and sklearn
(skops) for classifiers; gguf (a generative language model) is only header-checked here (`gguf_header`). Uploaded files are never unpickled: see `loaders.load_model` and `pt2.inspect_pt2`.

Names are imported lazily, so `from audit.modelio.errors import ModelFormatError` (e.g. in a web
view) does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ACCEPTED_FORMATS": "errors",
    "FORMATS": "errors",
    "ModelContractError": "errors",
    "ModelFormatError": "errors",
    "EncoderSpec": "encoder",
    "FeatureSpec": "encoder",
    "default_categorical": "encoder",
    "ZooBundle": "bundle",
    "load_zoo_bundle": "bundle",
    "save_zoo_bundle": "bundle",
    "LoadedModel": "loaders",
    "is_pickle": "sniff",
    "load_model": "loaders",
    "sniff_format": "sniff",
    "validate_contract": "loaders",
    "export_onnx": "training",
    "export_torch": "training",
    "train_zoo_model": "training",
    "available_architectures": "zoo",
    "build_module": "zoo",
    "get_architecture": "zoo",
    "register": "zoo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Return the public name `name`, importing its module on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
