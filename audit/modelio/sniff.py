"""Recognise a model file's format from its bytes, refuse pickles and structural bombs. No torch, no pandas.

The first line of the format checks (ARCHITECTURE.md, Model formats): it runs first in the sandboxed
child, before anything heavy is imported, so a refused file answers in a fraction of a second.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from core.safezip import Limits, SafeZip, UnsafeZip

from .errors import FORMATS, ModelFormatError
from .gguf_header import check_gguf, is_gguf

__all__ = ["check_format", "find_bundle_members", "is_pickle", "sniff_format"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"
# A config is a few kilobytes; anything larger is not one of ours.
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_WEIGHTS_BYTES = 4 * 1024**3
# A bundle is two files (a folder around them at most); weights barely compress, a config is text.
BUNDLE_LIMITS = Limits(max_entries=16, max_entry_bytes=MAX_WEIGHTS_BYTES, max_total_bytes=MAX_WEIGHTS_BYTES
                       + MAX_CONFIG_BYTES, max_ratio=1000.0)
# A skops archive: schema.json (text, a few megabytes at most) and .npy arrays; zero arrays compress
# well, so the ratio is generous, but the declared sizes are bounded before skops inflates anything.
SKOPS_LIMITS = Limits(max_entries=100_000, max_entry_bytes=1024**3, max_total_bytes=2 * 1024**3,
                      max_ratio=10_000.0)
MAX_SKOPS_SCHEMA_BYTES = 64 * 1024**2
# torch.export.save stores every entry uncompressed; a model is at most a few gigabytes. The sample
# inputs are themselves a torch.save zip, so nested archives are allowed there.
PT2_LIMITS = Limits(max_entries=100_000, max_entry_bytes=2 * 1024**3, max_total_bytes=4 * 1024**3,
                    max_ratio=100.0, allow_nested=True)
# Any model zip: at most this many entries and this much once inflated (each format then has its own caps).
ANY_MODEL_ZIP = Limits(max_entries=100_000, max_entry_bytes=4 * 1024**3, max_total_bytes=8 * 1024**3,
                       max_ratio=1_000_000.0, allow_nested=True)


def find_bundle_members(names: list[str]) -> tuple[str, str] | None:
    """Return the zip member names of (config, weights), at the root or in one top folder, or None."""
    for prefix in ("", *_top_folders(names)):
        config, weights = prefix + CONFIG_NAME, prefix + WEIGHTS_NAME
        if config in names and weights in names:
            return config, weights
    return None


def _top_folders(names: list[str]) -> list[str]:
    folders = {PurePosixPath(name).parts[0] + "/" for name in names if "/" in name}
    return sorted(folders) if len(folders) == 1 else []


_ZIP_MAGIC = b"PK\x03\x04"
_EXPECTED = {
    "torch-zoo": "a zip holding config.json and weights.safetensors",
    "torch-export": "a .pt2 archive written by torch.export.save",
    "onnx": "an ONNX model (protobuf)",
    "sklearn": "a skops archive written by skops.io.dump",
    "gguf": "a GGUF file (llama.cpp's format, starting with the GGUF magic bytes)",
}


def _zip_names(data: bytes) -> list[str] | None:
    """Return the names in a zip (None for another file); refuse a zip whose directory is a bomb."""
    if not data.startswith(_ZIP_MAGIC):
        return None
    try:
        with SafeZip(data, ANY_MODEL_ZIP) as archive:
            return [info.filename for info in archive.zip.infolist()]
    except UnsafeZip as exc:
        if "not a" in str(exc) and "zip archive" in str(exc):
            return None
        raise ModelFormatError(str(exc)) from None


def is_pickle(data: bytes) -> bool:
    """Return True for a Python pickle (protocol 2+) or a torch.save zip (which holds data.pkl)."""
    if len(data) >= 2 and data[0] == 0x80 and 1 <= data[1] <= 5:
        return True
    names = _zip_names(data) or []
    is_export = any(name.endswith("/archive_format") for name in names)
    return not is_export and any(name == "data.pkl" or name.endswith("/data.pkl") for name in names)


def _looks_like_onnx(data: bytes) -> bool:
    # ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
    if not data.startswith(b"\x08"):
        return False
    import onnx

    try:
        proto = onnx.ModelProto.FromString(data)
    except Exception:  # protobuf's DecodeError, or anything else a random file triggers
        return False
    return proto.ir_version > 0 and len(proto.graph.output) > 0


def sniff_format(data: bytes) -> str | None:
    """Return the format `data` is in ("torch-zoo", "torch-export", "onnx", "sklearn", "gguf"), or None."""
    if is_gguf(data):
        return "gguf"
    names = _zip_names(data)
    if names is not None:
        if find_bundle_members(names) is not None:
            return "torch-zoo"
        if any(name.endswith("/archive_format") for name in names):
            return "torch-export"
        if "schema.json" in names:
            return "sklearn"
        return None
    return "onnx" if _looks_like_onnx(data) else None


def check_format(fmt: str, data: bytes) -> None:
    """Return None when `data` is in format `fmt`; raise ModelFormatError saying what it is otherwise."""
    if fmt not in FORMATS:
        raise ModelFormatError(f"unknown model format {fmt!r}")
    if is_pickle(data):
        raise ModelFormatError("the file is a Python pickle, which Assay never loads")
    found = sniff_format(data)
    if found != fmt:
        seen = f"it looks like {found}" if found else "it matches none of the accepted formats"
        raise ModelFormatError(f"the file is not {fmt}: expected {_EXPECTED[fmt]}, but {seen}")
    if fmt == "torch-export":
        try:
            SafeZip(data, PT2_LIMITS).close()
        except UnsafeZip as exc:
            raise ModelFormatError(f"the torch-export archive is refused: {exc}") from None
    if fmt == "sklearn":
        try:
            with SafeZip(data, SKOPS_LIMITS) as archive:
                schema = next((i for i in archive.entries if archive.name(i) == "schema.json"), None)
                if schema is not None and schema.file_size > MAX_SKOPS_SCHEMA_BYTES:
                    raise UnsafeZip(f"its schema.json inflates to {schema.file_size:,} bytes; at most "
                                    f"{MAX_SKOPS_SCHEMA_BYTES:,} are accepted")
        except UnsafeZip as exc:
            raise ModelFormatError(f"the skops file is refused: {exc}") from None
    if fmt == "torch-zoo":
        _check_bundle(data)
    if fmt == "gguf":
        check_gguf(data)


def _check_bundle(data: bytes) -> None:
    """Refuse a zoo zip whose structure or architecture arguments are out of bounds, before torch loads."""
    import json

    from .zoo_bounds import check_arguments

    try:
        with SafeZip(data, BUNDLE_LIMITS) as archive:
            archive.check_nested()
            names = {archive.name(info): info for info in archive.entries}
            members = find_bundle_members(list(names))
            config_info = names[members[0]] if members else None
            if config_info is None or config_info.file_size > MAX_CONFIG_BYTES:
                return  # the loader says what is missing or too large
            raw = archive.read(config_info)
    except UnsafeZip as exc:
        raise ModelFormatError(f"the torch-zoo zip is refused: {exc}") from None
    try:
        config = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return  # the loader names the JSON error
    if isinstance(config, dict) and isinstance(config.get("architecture"), str) and isinstance(config.get("args"), dict):
        try:
            check_arguments(config["architecture"], config["args"])
        except ValueError as exc:
            raise ModelFormatError(f"torch-zoo config cannot build its architecture: bad arguments for architecture "
                                   f"{config['architecture']!r}: {exc}") from None


