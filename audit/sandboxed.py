"""What runs inside the model sandbox (`core.sandbox`): the upload check and the whole audit.

These functions run in the sandboxed child process, never in the web or worker process: they are
the only code that deserialises an uploaded model. Each takes the JSON request, the folder holding
its input files (`model`, `dataset`) and the folder for its outputs, and returns plain JSON.
No Django here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .splits import Splits

Progress = Callable[[float, str], None]


def _splits(request: dict[str, Any], in_dir: Path) -> Splits:
    from .datasets import Limits, Schema, parse_table
    from .splits import split_frame

    limits = Limits(**request["table_limits"]) if request.get("table_limits") else None  # the operator's, not defaults
    frame = parse_table((in_dir / "dataset").read_bytes(), request["file_format"], limits)
    return split_frame(frame, Schema(**request["schema"]))


def _load(request: dict[str, Any], in_dir: Path, splits: Splits):
    from .modelio import load_model
    from .splits import target_classes

    return load_model(request["format"], (in_dir / "model").read_bytes(), features=splits.schema.features,
                      categorical=splits.schema.categorical, train_frame=splits.train,
                      classes=request.get("classes") or target_classes(splits))


def check_model(request: dict[str, Any], in_dir: Path, out_dir: Path, progress: Progress) -> dict[str, Any]:
    """Load the model and run it on 32 training rows; return its classes and features.

    Raises ModelFormatError or ModelContractError (ValueError) with the reason when it is unusable.
    """
    from .modelio.sniff import check_format

    check_format(request["format"], (in_dir / "model").read_bytes())  # before torch and pandas: refusals are quick
    from .modelio import validate_contract

    splits = _splits(request, in_dir)
    loaded = _load(request, in_dir, splits)
    validate_contract(loaded, splits.train.head(32))
    return {"classes": [str(c) for c in loaded.classes], "features": [str(f) for f in loaded.features]}


def run_audit(request: dict[str, Any], in_dir: Path, out_dir: Path, progress: Progress) -> dict[str, Any]:
    """Load the model and data once and run every metric; return the Result JSON of METRICS.md.

    With `"stream": true` the table is read in chunks (`audit.streaming`): memory stays bounded
    whatever its row count.
    """
    from . import runner
    from .metrics.base import AuditContext

    started = time.perf_counter()
    progress(1, "loading model and data")
    context = AuditContext(**request["context"]) if request.get("context") else None
    if request.get("stream"):
        prepared = _prepare_stream(request, in_dir, started, progress)
        return runner.audit(prepared, model_bytes=(in_dir / "model").read_bytes(), fmt=request["format"],
                            config=request.get("config"), context=context, progress=progress)
    splits = _splits(request, in_dir)
    loaded = _load(request, in_dir, splits)
    prepared = runner.prepare(loaded, splits.train, splits.eval, splits.schema, started=started,
                              training_assumed=bool(request.get("training_assumed")), dropped=splits.dropped,
                              config=request.get("config") or {})
    return runner.audit(prepared, model_bytes=(in_dir / "model").read_bytes(), fmt=request["format"],
                        config=request.get("config"), context=context, progress=progress)


def _prepare_stream(request: dict[str, Any], in_dir: Path, started: float, progress: Progress):
    from .datasets import Schema
    from .modelio import load_model
    from .modelio.sniff import check_format
    from .streaming import TableFile, prepare_file

    model = (in_dir / "model").read_bytes()
    check_format(request["format"], model)
    schema = Schema(**request["schema"])

    def load(train_frame, classes, resolved):
        return load_model(request["format"], model, features=resolved.features, categorical=resolved.categorical,
                          train_frame=train_frame, classes=request.get("classes") or classes)

    return prepare_file(TableFile(in_dir / "dataset", request["file_format"]), schema, load,
                        config=request.get("config") or {}, started=started,
                        training_assumed=bool(request.get("training_assumed")), progress=progress)
