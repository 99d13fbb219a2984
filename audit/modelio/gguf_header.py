"""Check a GGUF file's header without loading the model: pure `struct`, no gguf, no torch, no numpy.

A GGUF file (llama.cpp's format) is: the magic `GGUF`, a version, the number of tensors and of
metadata key-value pairs, the pairs, one description per tensor (name, shape, type, offset), then the
tensor data, aligned. The web process reads that far, with every count and length bounded by what the
file can hold, so that a truncated or forged header is refused before it is stored. The weights are
only ever loaded in the model sandbox (genai.sandboxed), when an evaluation runs.
"""

from __future__ import annotations

import struct

from .errors import ModelFormatError

__all__ = ["MAGIC", "check_gguf", "is_gguf"]

MAGIC = b"GGUF"
VERSIONS = (2, 3)  # version 1 (32-bit counts) is no longer written by llama.cpp and is refused
# A 70B model has about 700 tensors and 40 metadata keys; the bounds leave room and refuse forgeries.
MAX_TENSORS = 65_536
MAX_KV = 65_536
MAX_KEY_BYTES = 65_535
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_ARRAY_DEPTH = 2
MAX_GGML_TYPE = 63
DEFAULT_ALIGNMENT = 32
# value types: fixed-size scalars (struct format), then string (8) and array (9)
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


def is_gguf(data: bytes) -> bool:
    return data[:4] == MAGIC


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise ModelFormatError(f"the GGUF header is truncated at byte {self.pos:,}")
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self, limit: int | None = None) -> bytes:
        n = self.take("Q")
        if n > len(self.data) - self.pos or (limit is not None and n > limit):
            raise ModelFormatError(f"the GGUF header declares a {n:,}-byte string at byte {self.pos:,}, "
                                   "longer than the file allows")
        text = self.data[self.pos:self.pos + n]
        self.pos += n
        return text

    def value(self, kind: int, depth: int = 0):
        if kind in _SCALARS:
            return self.take(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY and depth < MAX_ARRAY_DEPTH:
            item, n = self.take("I"), self.take("Q")
            if item in _SCALARS:
                size = struct.calcsize("<" + _SCALARS[item]) * n
                if size > len(self.data) - self.pos:
                    raise ModelFormatError(f"the GGUF header declares an array of {n:,} values, more than the file holds")
                self.pos += size
                return None
            if n > len(self.data) - self.pos:  # every string or array takes at least 8 bytes
                raise ModelFormatError(f"the GGUF header declares an array of {n:,} values, more than the file holds")
            for _ in range(n):
                self.value(item, depth + 1)
            return None
        raise ModelFormatError(f"the GGUF header holds an unknown value type {kind} at byte {self.pos:,}")


def check_gguf(data: bytes) -> dict:
    """Return {"version", "tensors", "kv", "architecture", "name"} of a GGUF file; raise ModelFormatError otherwise.

    Walks the header (metadata and tensor descriptions) with every count bounded by the file's size:
    a known version, at most MAX_TENSORS tensors and MAX_KV keys, shapes of at most four dimensions,
    tensor data that lies inside the file at the declared alignment.
    """
    if not is_gguf(data):
        raise ModelFormatError("the file is not gguf: it does not start with the GGUF magic bytes")
    r = _Reader(data)
    r.pos = 4
    version = r.take("I")
    if version not in VERSIONS:
        raise ModelFormatError(f"GGUF version {version} is not supported (supported: {', '.join(map(str, VERSIONS))})")
    tensors, kv = r.take("Q"), r.take("Q")
    if tensors > MAX_TENSORS or kv > MAX_KV:
        raise ModelFormatError(f"the GGUF header declares {tensors:,} tensors and {kv:,} metadata keys; at most "
                               f"{MAX_TENSORS:,} and {MAX_KV:,} are accepted")
    meta: dict[str, object] = {}
    for _ in range(kv):
        key = r.string(MAX_KEY_BYTES).decode("utf-8", "replace")
        value = r.value(r.take("I"))
        if key in ("general.architecture", "general.name", "general.alignment"):
            meta[key] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    alignment = meta.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 or alignment & (alignment - 1):
        raise ModelFormatError(f"the GGUF alignment {alignment!r} is not a power of two")
    if tensors == 0:
        raise ModelFormatError("the GGUF file holds no tensor")
    offsets = []
    for _ in range(tensors):
        name = r.string(MAX_KEY_BYTES)
        dims = r.take("I")
        if not 1 <= dims <= MAX_DIMS:
            raise ModelFormatError(f"GGUF tensor {name[:80]!r} has {dims} dimensions; 1 to {MAX_DIMS} are accepted")
        shape = [r.take("Q") for _ in range(dims)]
        kind, offset = r.take("I"), r.take("Q")
        if kind > MAX_GGML_TYPE or any(d == 0 for d in shape) or offset % alignment:
            raise ModelFormatError(f"GGUF tensor {name[:80]!r} is malformed (type {kind}, shape {shape}, "
                                   f"offset {offset})")
        offsets.append(offset)
    start = -(-r.pos // alignment) * alignment
    if start + max(offsets) >= len(data):
        raise ModelFormatError("the GGUF file is truncated: its tensor data lies beyond the end of the file")
    return {"version": version, "tensors": tensors, "kv": kv,
            "architecture": str(meta.get("general.architecture") or ""), "name": str(meta.get("general.name") or "")}
