"""The torch-zoo bundle: `config.json` + `weights.safetensors`, as one zip or one folder.

config.json::

    {"architecture": "mlp", "args": {...}, "encoder": {EncoderSpec json} | null,
     "classes": ["<=50K", ">50K"], "features": ["age", ...], "outputs": "logits"}

The weights are read with safetensors (no pickle); the architecture's code comes from the zoo
registry, never from the file.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import IO, Any, NamedTuple

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from core.safezip import SafeZip, UnsafeZip

from .encoder import EncoderSpec
from .errors import ModelFormatError
from .sniff import BUNDLE_LIMITS, CONFIG_NAME, MAX_CONFIG_BYTES, WEIGHTS_NAME, find_bundle_members
from .zoo import available_architectures, build_module

__all__ = [
    "CONFIG_NAME",
    "CONFIG_KEYS",
    "WEIGHTS_NAME",
    "ZooBundle",
    "find_bundle_members",
    "load_zoo_bundle",
    "save_zoo_bundle",
    "validate_config",
]

CONFIG_KEYS = ("architecture", "args", "encoder", "classes", "features", "outputs")
OUTPUTS = ("logits", "probabilities")


class ZooBundle(NamedTuple):
    """A loaded zoo model: the module (eval mode), its validated config and its encoder."""

    module: nn.Module
    config: dict[str, Any]
    encoder: EncoderSpec | None


def validate_config(config: Any) -> EncoderSpec | None:
    """Return the config's encoder (or None), raising ModelFormatError if the config is invalid."""
    if not isinstance(config, dict):
        raise ModelFormatError("torch-zoo config.json must hold a JSON object")
    missing = [key for key in CONFIG_KEYS if key not in config]
    if missing:
        raise ModelFormatError(f"torch-zoo config.json lacks keys {missing} (needs {list(CONFIG_KEYS)})")
    name = config["architecture"]
    if not isinstance(name, str) or name not in available_architectures():
        raise ModelFormatError(
            f"torch-zoo architecture {name!r} is not installed; known: {', '.join(available_architectures())}"
        )
    if not isinstance(config["args"], dict):
        raise ModelFormatError("torch-zoo config 'args' must be a JSON object")
    for key in ("classes", "features"):
        if not isinstance(config[key], list) or not all(isinstance(v, str) for v in config[key]):
            raise ModelFormatError(f"torch-zoo config '{key}' must be a list of strings")
    if len(config["classes"]) < 2:
        raise ModelFormatError("torch-zoo config 'classes' must name at least two classes")
    if config["outputs"] not in OUTPUTS:
        raise ModelFormatError(f"torch-zoo config 'outputs' must be one of {list(OUTPUTS)}")
    if config["encoder"] is None:
        return None
    try:
        encoder = EncoderSpec.from_json(config["encoder"])
    except ValueError as exc:
        raise ModelFormatError(f"torch-zoo config 'encoder' is invalid: {exc}") from exc
    if encoder.feature_names != config["features"]:
        raise ModelFormatError("torch-zoo config 'encoder' features differ from 'features'")
    return encoder


def save_zoo_bundle(
    module: nn.Module, config: dict[str, Any], path_or_fileobj: str | Path | IO[bytes]
) -> None:
    """Write `module`'s weights and `config` as a zoo bundle.

    A path ending in ".zip" or a file object receives a zip; any other path becomes a folder.
    """
    validate_config(config)
    config_bytes = json.dumps(config, indent=2, sort_keys=True).encode()
    state = {key: value.detach().cpu().contiguous() for key, value in module.state_dict().items()}
    weights_bytes = save_safetensors(state)
    if isinstance(path_or_fileobj, str | Path) and not str(path_or_fileobj).endswith(".zip"):
        folder = Path(path_or_fileobj)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_NAME).write_bytes(config_bytes)
        (folder / WEIGHTS_NAME).write_bytes(weights_bytes)
        return
    with zipfile.ZipFile(path_or_fileobj, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(CONFIG_NAME, config_bytes)
        archive.writestr(WEIGHTS_NAME, weights_bytes)


def _read_bundle(source: bytes | str | Path) -> tuple[bytes, bytes]:
    if isinstance(source, str | Path) and Path(source).is_dir():
        folder = Path(source)
        if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
            raise ModelFormatError(f"torch-zoo folder {folder} needs {CONFIG_NAME} and {WEIGHTS_NAME}")
        return (folder / CONFIG_NAME).read_bytes(), (folder / WEIGHTS_NAME).read_bytes()
    data = Path(source).read_bytes() if isinstance(source, str | Path) else bytes(source)
    try:
        with SafeZip(data, BUNDLE_LIMITS) as archive:
            names = {archive.name(info): info for info in archive.entries}
            members = find_bundle_members(list(names))
            if members is None:
                raise ModelFormatError(f"a torch-zoo zip must contain {CONFIG_NAME} and {WEIGHTS_NAME}")
            config, weights = (names[m] for m in members)
            if config.file_size > MAX_CONFIG_BYTES:
                raise ModelFormatError(f"torch-zoo member {CONFIG_NAME} is larger than {MAX_CONFIG_BYTES} bytes")
            return archive.read(config), archive.read(weights)
    except UnsafeZip as exc:
        raise ModelFormatError(f"the torch-zoo zip is refused: {exc}") from None


def _load_weights(weights: bytes) -> dict[str, torch.Tensor]:
    try:
        return load_safetensors(weights)
    except Exception as exc:  # safetensors raises its own error types for malformed headers
        raise ModelFormatError(f"torch-zoo {WEIGHTS_NAME} is not a valid safetensors file: {exc}") from exc


def _check_state(module: nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    expected = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    got = {key: tuple(value.shape) for key, value in state.items()}
    missing, unexpected = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    if missing or unexpected:
        raise ModelFormatError(
            f"torch-zoo weights do not fit architecture {name!r}: missing {missing}, unexpected {unexpected}"
        )
    wrong = [f"{key}: {got[key]} != {shape}" for key, shape in expected.items() if got[key] != shape]
    if wrong:
        raise ModelFormatError(f"torch-zoo weights have the wrong shapes for {name!r}: {'; '.join(wrong)}")


def load_zoo_bundle(source: bytes | str | Path) -> ZooBundle:
    """Return the zoo model stored in `source` (zip bytes, a zip path or a folder path).

    Raises ModelFormatError when the bundle is incomplete, the config invalid, the architecture
    unknown, or the weights do not match the architecture's state dict.
    """
    config_bytes, weights = _read_bundle(source)
    try:
        config = json.loads(config_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"torch-zoo {CONFIG_NAME} is not valid JSON: {exc}") from exc
    encoder = validate_config(config)
    try:
        module = build_module(config["architecture"], config["args"])
    except (ValueError, TypeError) as exc:
        raise ModelFormatError(f"torch-zoo config cannot build its architecture: {exc}") from exc
    state = _load_weights(weights)
    _check_state(module, state, config["architecture"])
    module.load_state_dict(state, strict=True)
    return ZooBundle(module.eval(), config, encoder)
