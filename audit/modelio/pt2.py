"""Load a torch.export program (`.pt2`) without ever running pickled code.

`torch.export.load` (torch 2.13) is not safe on an untrusted file by itself. Inside
`torch.export.pt2_archive._package.load_pt2` it

- calls `torch.load(..., weights_only=False)` on every weight or tensor constant whose payload
  config says `use_pickle: true` (tensor subclasses);
- calls `pickle.loads` on constants named `opaque_obj_*` and the TorchScript unpickler on
  `custom_obj_*` ones (TorchBind objects);
- hands the legacy `data/weights/<model>.pt` / `data/constants/<model>.pt` files and the
  `data/sample_inputs/<model>.pt` file to `deserialize_torch_artifact`, which tries
  `torch.load(weights_only=True)` and *falls back to weights_only=False* when that fails;
- loads AOTInductor packages (`data/aotinductor/`): compiled shared libraries;
- falls back to an older zip layout (`serialized_*.pt`) deserialised the same way;
- parses every symbolic-shape string (`expr_str`) of `models/model.json` with `sympy.sympify`,
  which evaluates Python;
- resolves node targets by name from `torch`, `operator` and `math` and accepts any callable, so a
  graph could call `torch.os.system` when run;
- in `ExportedProgram.module()` (default `check_guards=True`), `exec`s the file's `guards_code`.

So before calling it, `inspect_pt2` reads the zip itself (once, with bounded inflation, refusing
duplicate entry names: `zipfile` reads the last copy of a name, torch's reader the first) and accepts only the plain layout that
`torch.export.save` writes for an ordinary module: JSON configs, raw tensor bytes
(`use_pickle: false`), a sample-inputs file that loads with `torch.load(weights_only=True)`, symbolic expressions made of symbols, numbers, arithmetic and
known sympy function names, node targets that are ATen/prims operators or symbolic-int
arithmetic, no guards code, and nothing else. `load_exported_program` then checks the loaded
graphs' targets again, and callers take the module with `module(check_guards=False)`. torch is
given a fresh archive rebuilt from exactly the bytes that were checked, never the uploaded file.
"""

from __future__ import annotations

import io
import json
import math
import operator
import re
import zipfile
from collections.abc import Iterator
from typing import Any, NamedTuple

import torch

from core.safezip import SafeZip, UnsafeZip

from .errors import ModelFormatError
from .sniff import PT2_LIMITS

__all__ = ["check_graph_targets", "inspect_pt2", "load_exported_program", "read_pt2"]

MODEL_NAME = "model"
MAX_UNCOMPRESSED_BYTES = 4 * 1024**3

# Files (relative to the archive's root folder) that a plain torch.export.save archive holds.
_ALLOWED = [
    re.compile(pattern)
    for pattern in (
        r"archive_format",
        r"archive_version",
        r"byteorder",
        r"\.data/version",
        r"\.data/serialization_id",
        r"\.format_version",
        r"\.storage_alignment",
        r"models/model\.json",
        r"data/weights/model_weights_config\.json",
        r"data/weights/weight_\d+",
        r"data/constants/model_constants_config\.json",
        r"data/constants/tensor_\d+",
        r"data/sample_inputs/model\.pt",
        r"extra/[A-Za-z0-9_.\-]+",
    )
]
_PAYLOAD = {"weights": re.compile(r"weight_\d+"), "constants": re.compile(r"tensor_\d+")}

_TARGET = re.compile(r"torch\.ops\.(aten|prims)\.\w+\.\w+|_operator\.\w+|math\.trunc|torch\.sym_\w+")
_DENIED_OPS = {"from_file", "_from_file"}  # ATen ops that touch the file system
_SYM_FUNCTIONS = {
    operator.eq, operator.ne, operator.le, operator.ge, operator.lt, operator.gt, operator.neg,
    operator.pos, operator.mul, operator.add, operator.sub, operator.floordiv, operator.mod,
    operator.pow, operator.truediv, operator.and_, operator.or_, operator.lshift, operator.rshift,
    operator.getitem, math.trunc, torch.sym_not, torch.sym_int, torch.sym_float, torch.sym_ite,
    torch.sym_max, torch.sym_min, torch.sym_sqrt,
}  # fmt: skip
# Symbolic shapes are sympy expressions over symbols like s0/u1; sympify evaluates them as Python,
# so only symbols, numbers, arithmetic and these function names may appear.
_SYMPY_NAMES = {
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv", "CeilToInt", "FloorToInt",
    "CeilDiv", "IntTrueDiv", "FloatTrueDiv", "ToFloat", "TruncToInt", "TruncToFloat", "RoundToInt",
    "RoundDecimal", "IsNonOverlappingAndDenseIndicator", "LShift", "RShift", "Max", "Min", "Abs",
    "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "True", "False", "oo", "Integer",
    "Rational", "floor", "ceiling", "sqrt", "PowByNatural", "FloatPow", "OpaqueUnaryFn_sqrt",
    # what sympy's srepr (the serialiser's printer) writes
    "Symbol", "Dummy", "Float", "Add", "Mul", "Pow", "Equality", "Unequality", "StrictLessThan",
    "LessThan", "StrictGreaterThan", "GreaterThan", "BooleanTrue", "BooleanFalse", "true", "false",
    "Infinity", "NegativeInfinity", "IntInfinity", "NegativeIntInfinity", "zoo", "nan", "precision",
    "integer", "positive", "negative", "nonnegative", "nonpositive", "real", "finite", "zero",
    "even", "odd", "rational", "commutative", "infinite",
}  # fmt: skip
_EXPR_TOKEN = re.compile(
    r"\s*(?:(\d+(?:\.\d+)?(?:e[-+]?\d+)?)|([A-Za-z][A-Za-z0-9_]*)|(\*\*|[-+*/%(),<>=!&|~])|('[A-Za-z0-9_.+\-]*'))"
)
_SYMBOL = re.compile(r"[a-z]+\d+")




class Pt2Archive(NamedTuple):
    """A torch-export archive as Assay read it: its root folder and each entry's bytes by relative name."""

    root: str
    entries: dict[str, bytes]


def read_pt2(data: bytes) -> Pt2Archive:
    """Return the archive's entries, read once with bounded inflation; refuse anything ambiguous.

    Duplicate entry names (zipfile reads the last copy, torch's reader the first), unsafe names,
    overlapping entries, bombs and files outside one root folder raise ModelFormatError.
    """
    try:
        archive = SafeZip(data, PT2_LIMITS)
    except UnsafeZip as exc:
        raise ModelFormatError(f"the torch-export archive is refused: {exc}") from None
    with archive:
        names = [archive.name(info) for info in archive.entries]
        roots = {name.split("/", 1)[0] for name in names}
        if len(roots) != 1 or any("/" not in name for name in names):
            raise ModelFormatError("a torch-export archive keeps all its files under one root folder")
        try:
            entries = {name.split("/", 1)[1]: archive.read(info) for name, info in zip(names, archive.entries,
                                                                                     strict=True)}
        except UnsafeZip as exc:
            raise ModelFormatError(f"the torch-export archive is refused: {exc}") from None
    return Pt2Archive(roots.pop(), entries)


def _rebuild(archive: Pt2Archive) -> bytes:
    """Return a fresh zip of exactly the entries that were checked: torch reads nothing else."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
        for name, payload in archive.entries.items():
            out.writestr(f"{archive.root}/{name}", payload)
    return buffer.getvalue()


def _check_payload_config(raw: bytes, kind: str) -> None:
    try:
        config = json.loads(raw)["config"]
        items = config.items()
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ModelFormatError(f"torch-export {kind} config is malformed: {exc}") from exc
    for fqn, meta in items:
        if not isinstance(meta, dict) or meta.get("use_pickle") is not False:
            raise ModelFormatError(f"torch-export {kind} entry {fqn!r} is pickled; Assay never unpickles")
        if not _PAYLOAD[kind].fullmatch(str(meta.get("path_name", ""))):
            raise ModelFormatError(f"torch-export {kind} entry {fqn!r} is not a plain tensor")


def _check_sample_inputs(raw: bytes) -> None:
    # torch would retry this file with weights_only=False if the safe load failed; make sure it can't fail.
    try:
        torch.load(io.BytesIO(raw), weights_only=True)
    except Exception as exc:  # any failure means torch.export.load would try the unsafe path
        raise ModelFormatError(f"torch-export sample inputs are not plain tensors: {exc}") from exc


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _check_expression(text: str) -> None:
    position = 0
    while position < len(text.rstrip()):
        match = _EXPR_TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ModelFormatError(f"torch-export symbolic expression {text[:80]!r} is not plain arithmetic")
        name = match.group(2)
        if name is not None and name not in _SYMPY_NAMES and not _SYMBOL.fullmatch(name):
            raise ModelFormatError(f"torch-export symbolic expression uses the unknown name {name!r}")
        position = match.end()


def _check_program_json(raw: bytes) -> None:
    try:
        program = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFormatError(f"torch-export models/model.json is not JSON: {exc}") from exc
    if not isinstance(program, dict) or program.get("guards_code"):
        raise ModelFormatError("torch-export programs with guards code are not accepted")
    for key, value in _walk(program):
        if key == "expr_str":
            _check_expression(str(value))
        elif key == "range_constraints" and isinstance(value, dict):
            for symbol in value:
                _check_expression(str(symbol))
        elif key == "target" and isinstance(value, str) and not _TARGET.fullmatch(value):
            raise ModelFormatError(f"torch-export graph calls {value!r}; only ATen operators are accepted")


def inspect_pt2(data: bytes) -> Pt2Archive:
    """Return the archive when `data` is a plain torch.export archive that loads without unpickling.

    Raises ModelFormatError naming the first thing that is not: a duplicate or unsafe entry, a file
    outside the plain layout, a pickled payload, an AOTInductor or legacy part, an oversized archive.
    """
    if not data.startswith(b"PK"):
        raise ModelFormatError("a torch-export file (.pt2) is a zip archive; this one is not")
    archive = read_pt2(data)
    names = archive.entries
    unexpected = sorted(n for n in names if not any(p.fullmatch(n) for p in _ALLOWED))
    if unexpected:
        raise ModelFormatError(f"the torch-export archive holds files Assay does not load: {unexpected[:5]}")
    if names.get("archive_format") != b"pt2":
        raise ModelFormatError("the archive is not a torch.export .pt2 archive (archive_format)")
    for required in ("models/model.json", "data/sample_inputs/model.pt"):
        if required not in names:
            raise ModelFormatError(f"the torch-export archive lacks {required}")
    for kind in ("weights", "constants"):
        config = f"data/{kind}/model_{kind}_config.json"
        if config not in names:
            raise ModelFormatError(f"the torch-export archive lacks {config}")
        _check_payload_config(names[config], kind)
    _check_sample_inputs(names["data/sample_inputs/model.pt"])
    _check_program_json(names["models/model.json"])
    return archive


def check_graph_targets(program: Any) -> None:
    """Return None when every call in `program`'s graphs is an ATen/prims operator or shape arithmetic."""
    for graph_module in program.graph_module.modules():
        graph = getattr(graph_module, "graph", None)
        for node in graph.nodes if graph is not None else ():
            if node.op == "call_function" and not _allowed_target(node.target):
                raise ModelFormatError(
                    f"torch-export graph calls {node.target!r}; only ATen operators are accepted"
                )


def _allowed_target(target: Any) -> bool:
    if isinstance(target, torch._ops.OpOverload):
        return target.namespace in ("aten", "prims") and target._opname not in _DENIED_OPS
    return target in _SYM_FUNCTIONS


def load_exported_program(data: bytes) -> Any:
    """Return the `torch.export.ExportedProgram` in `data`, after `inspect_pt2` accepted it."""
    checked = _rebuild(inspect_pt2(data))
    try:
        program = torch.export.load(io.BytesIO(checked))
    except Exception as exc:  # torch raises many types here; the user needs one clear error
        raise ModelFormatError(f"torch.export could not load the program: {exc}") from exc
    check_graph_targets(program)
    return program
