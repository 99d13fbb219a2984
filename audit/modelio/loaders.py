"""Safe model loading: recognise a file's format, refuse pickles, and adapt the model to the engine.

`load_model` returns a `LoadedModel`, which knows the model's design space (how a raw frame
becomes the float matrix the metric engine works in) and gives an `AuditModel` whose callables
take that matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from audit.metrics.base import AuditModel

from .bundle import load_zoo_bundle
from .design import CodedDesign, DesignSpace, EncodedDesign, TensorDesign
from .encoder import EncoderSpec, category_key
from .errors import ModelContractError, ModelFormatError
from .onnx_io import OnnxClassifier
from .pt2 import load_exported_program
from .skops_io import load_skops
from .sniff import check_format as _check_format
from .sniff import is_pickle, sniff_format

__all__ = ["LoadedModel", "is_pickle", "load_model", "sniff_format", "validate_contract"]

BATCH_ROWS = 8192


def _batched(fn: Callable[[np.ndarray], np.ndarray], matrix: np.ndarray) -> np.ndarray:
    parts = [fn(matrix[start : start + BATCH_ROWS]) for start in range(0, len(matrix), BATCH_ROWS)]
    return np.concatenate(parts) if parts else fn(matrix)


@dataclass
class LoadedModel:
    """A loaded classifier with its design space.

    Attributes:
        format: "torch-zoo", "torch-export", "onnx" or "sklearn".
        classes: class values as strings; index i is probability column i.
        features: the raw feature columns the model reads, in order.
        design: how a raw frame becomes the design matrix (`design_matrix`).
        matrix_proba, matrix_predict: design matrix -> probabilities (or None) / class indices.
        frame_proba, frame_predict: the same from a raw frame.
        torch_module: float32 design matrix -> logits, for differentiable formats.
        representations: design matrix -> penultimate activations (zoo models), or None.
        outputs: "logits" (torch) or "probabilities" (black box).
        native: the underlying object (module, exported program, onnxruntime session, estimator).
    """

    format: str
    classes: list[str]
    features: list[str]
    design: DesignSpace
    matrix_proba: Callable[[np.ndarray], np.ndarray] | None
    matrix_predict: Callable[[np.ndarray], np.ndarray]
    frame_proba: Callable[[pd.DataFrame], np.ndarray] | None
    frame_predict: Callable[[pd.DataFrame], np.ndarray]
    torch_module: nn.Module | None = None
    representations: Callable[[np.ndarray], np.ndarray] | None = None
    outputs: str = "probabilities"
    native: Any = None

    def design_matrix(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
        """Return (matrix float64 (n, p), columns, column_features, categorical_mask) for `frame`."""
        design = self.design
        return (
            design.matrix(frame),
            list(design.columns),
            list(design.column_features),
            design.categorical_mask,
        )

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Return the probabilities (n, k) for a raw frame, or None for a label-only model."""
        return None if self.frame_proba is None else self.frame_proba(frame)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the predicted class indices (n,) for a raw frame."""
        return self.frame_predict(frame)

    def to_audit_model(self) -> AuditModel:
        """Return the engine's view of this model: callables over the design matrix."""
        return AuditModel(
            format=self.format,
            classes=list(self.classes),
            predict=self.matrix_predict,
            predict_proba=self.matrix_proba,
            torch_module=self.torch_module,
            representations=self.representations,
            outputs=self.outputs,
        )


class ExportedModule(nn.Module):
    """A torch.export program as a module: float32 design matrix -> logits, differentiable.

    An exported graph is frozen in the mode it was exported in, so `train()`/`eval()` only set
    the flag instead of reaching into the graph (which refuses them).
    """

    def __init__(self, program: Any) -> None:
        super().__init__()
        self.program = program.module(check_guards=False)

    def train(self, mode: bool = True) -> ExportedModule:
        """Return self, with the flag set; the exported graph keeps its own mode."""
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the program's output (logits) for a design-matrix tensor."""
        return self.program(x.float())

    def penultimate_node(self) -> Any:
        """Return the graph node that feeds the last linear layer (its input), or None."""
        linear = (torch.ops.aten.linear.default, torch.ops.aten.addmm.default, torch.ops.aten.mm.default)
        last = None
        for node in self.program.graph.nodes:
            if node.op == "call_function" and node.target in linear:
                last = node
        if last is None:
            return None
        source = last.args[1] if last.target is torch.ops.aten.addmm.default else last.args[0]
        return source if isinstance(source, torch.fx.Node) and source.op != "placeholder" else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the activations that feed the program's last linear layer (DATA-03's representations)."""
        node, captured = self.penultimate_node(), {}

        class Capture(torch.fx.Interpreter):
            def run_node(self, n):
                out = super().run_node(n)
                if n is node:
                    captured["r"] = out
                return out

        Capture(self.program).run(x.float())
        return captured["r"]


def _torch_callables(
    module: nn.Module, outputs: str
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    def scores(matrix: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = module(torch.as_tensor(np.asarray(matrix), dtype=torch.float32))
            out = torch.softmax(out, dim=1) if outputs == "logits" else out
        return out.double().numpy()

    def proba(matrix: np.ndarray) -> np.ndarray:
        return _batched(scores, matrix)

    def predict(matrix: np.ndarray) -> np.ndarray:
        return _batched(scores, matrix).argmax(axis=1)

    return proba, predict


def _representations(module: nn.Module) -> Callable[[np.ndarray], np.ndarray] | None:
    features = getattr(module, "features", None)
    if not callable(features):
        return None
    if isinstance(module, ExportedModule) and module.penultimate_node() is None:
        return None  # no hidden layer to read: DATA-03 scans the standardised inputs

    def represent(matrix: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return features(torch.as_tensor(np.asarray(matrix), dtype=torch.float32)).double().numpy()

    return lambda matrix: _batched(represent, matrix)


def _torch_model(
    fmt: str,
    module: nn.Module,
    design: DesignSpace,
    classes: list[str],
    features: list[str],
    outputs: str,
    native: Any,
) -> LoadedModel:
    proba, predict = _torch_callables(module, outputs)
    return LoadedModel(
        format=fmt,
        classes=classes,
        features=features,
        design=design,
        matrix_proba=proba,
        matrix_predict=predict,
        frame_proba=lambda frame: proba(design.matrix(frame)),
        frame_predict=lambda frame: predict(design.matrix(frame)),
        torch_module=module,
        representations=_representations(module) if fmt == "torch-zoo" else None,
        outputs="logits" if outputs == "logits" else "probabilities",
        native=native,
    )


def _require_classes(classes: Sequence[Any] | None, what: str) -> list[str]:
    if not classes:
        raise ModelContractError(
            f"{what} does not declare its classes; pass the dataset's sorted target values"
        )
    return [str(category_key(value)) for value in classes]


def _load_zoo(
    data: bytes, features: Sequence[str], categorical: Sequence[str], encoder: EncoderSpec | None
) -> LoadedModel:
    bundle = load_zoo_bundle(data)
    config_features = list(bundle.config["features"])
    missing = [name for name in config_features if name not in features]
    if missing:
        raise ModelContractError(f"the zoo model reads features {missing} that the dataset does not declare")
    encoder = bundle.encoder or encoder
    design = EncodedDesign(encoder, categorical) if encoder else TensorDesign(config_features, categorical)
    classes = list(bundle.config["classes"])
    return _torch_model(
        "torch-zoo", bundle.module, design, classes, config_features, bundle.config["outputs"], bundle
    )


def _load_export(
    data: bytes,
    features: Sequence[str],
    categorical: Sequence[str],
    encoder: EncoderSpec | None,
    classes: Sequence[Any] | None,
) -> LoadedModel:
    program = load_exported_program(data)
    module = ExportedModule(program)
    features = encoder.feature_names if encoder else list(features)
    design = EncodedDesign(encoder, categorical) if encoder else TensorDesign(features, categorical)
    return _torch_model(
        "torch-export",
        module,
        design,
        _require_classes(classes, "a torch-export program"),
        features,
        "logits",
        program,
    )


def _black_box(
    fmt: str,
    classes: list[str],
    design: DesignSpace,
    proba: Callable[[Any], np.ndarray] | None,
    predict: Callable[[Any], np.ndarray],
    from_frame: Callable[[pd.DataFrame], Any],
    from_matrix: Callable[[np.ndarray], Any],
    native: Any,
) -> LoadedModel:
    def matrix_proba(matrix: np.ndarray) -> np.ndarray:
        return _batched(lambda part: proba(from_matrix(part)), matrix)

    def matrix_predict(matrix: np.ndarray) -> np.ndarray:
        return _batched(lambda part: predict(from_matrix(part)), matrix)

    return LoadedModel(
        format=fmt,
        classes=classes,
        features=list(design.column_features),
        design=design,
        matrix_proba=matrix_proba if proba is not None else None,
        matrix_predict=matrix_predict,
        frame_proba=(lambda frame: proba(from_frame(frame))) if proba is not None else None,
        frame_predict=lambda frame: predict(from_frame(frame)),
        outputs="probabilities",
        native=native,
    )


def _named_inputs(names: Sequence[str], features: Sequence[str], what: str) -> list[str]:
    missing = [name for name in names if name not in features]
    if missing:
        raise ModelContractError(
            f"{what} reads columns {missing} that the dataset does not declare as features"
        )
    return [name for name in features if name in set(names)]


def _load_sklearn(
    data: bytes, features: Sequence[str], categorical: Sequence[str], train_frame: pd.DataFrame | None
) -> LoadedModel:
    estimator = load_skops(data)
    if not hasattr(estimator, "predict") or not hasattr(estimator, "classes_"):
        raise ModelContractError("the skops file does not hold a fitted scikit-learn classifier")
    classes = [str(category_key(value)) for value in estimator.classes_]
    index = {label: i for i, label in enumerate(classes)}
    if hasattr(estimator, "feature_names_in_"):
        used = _named_inputs(
            [str(n) for n in estimator.feature_names_in_], features, "the scikit-learn model"
        )
        design: DesignSpace = CodedDesign(used, [c for c in categorical if c in used], train_frame)
        order = [str(n) for n in estimator.feature_names_in_]
        from_frame, from_matrix = (lambda frame: frame[order]), (lambda matrix: design.decode(matrix)[order])
    else:
        design = TensorDesign(features, categorical)
        from_frame, from_matrix = design.matrix, (lambda matrix: matrix)
    proba = None
    if hasattr(estimator, "predict_proba"):
        proba = lambda x: np.asarray(estimator.predict_proba(x), dtype=np.float64)  # noqa: E731
    predict = lambda x: np.array([index[category_key(v)] for v in estimator.predict(x)], dtype=np.int64)  # noqa: E731
    return _black_box("sklearn", classes, design, proba, predict, from_frame, from_matrix, estimator)


def _load_onnx(
    data: bytes,
    features: Sequence[str],
    categorical: Sequence[str],
    train_frame: pd.DataFrame | None,
    classes: Sequence[Any] | None,
) -> LoadedModel:
    model = OnnxClassifier(data, features)
    resolved = model.declared_classes or _require_classes(classes, "the ONNX model")
    if model.single_tensor:
        design: DesignSpace = TensorDesign(features, categorical)
        from_matrix = model.feeds_from_matrix
    else:
        used = _named_inputs([i.name for i in model.inputs], features, "the ONNX model")
        design = CodedDesign(used, [c for c in categorical if c in used], train_frame)
        from_matrix = lambda matrix: model.feeds_from_frame(design.decode(matrix))  # noqa: E731
    proba = (lambda feeds: model.run(feeds, resolved)[0]) if model.probability is not None else None
    predict = lambda feeds: model.run(feeds, resolved)[1]  # noqa: E731
    return _black_box("onnx", resolved, design, proba, predict, model.feeds_from_frame, from_matrix, model)


def load_model(
    fmt: str,
    data: bytes,
    *,
    features: Sequence[str],
    categorical: Sequence[str],
    train_frame: pd.DataFrame | None = None,
    classes: Sequence[Any] | None = None,
    encoder: EncoderSpec | None = None,
) -> LoadedModel:
    """Return the model in `data`, declared to be in format `fmt`.

    Parameters
    ----------
    fmt : "torch-zoo", "torch-export", "onnx" or "sklearn".
    data : the file's bytes. Pickles, and bytes that are not in `fmt`, raise ModelFormatError.
    features, categorical : the dataset's feature columns (in order) and its categorical ones.
    train_frame : the training frame; black-box models with named columns code their categorical
        columns from it (needed for `design_matrix` and `to_audit_model`, not for `predict_proba`).
    classes : the class values, used when the model does not declare its own.
    encoder : the encoder of a torch-export program trained on encoded inputs (zoo models carry theirs).
    """
    _check_format(fmt, data)
    if fmt == "gguf":
        raise ModelContractError("a gguf model is a generative language model, not a classifier: it is evaluated "
                                 "by the genai app, never loaded as a classifier")
    features, categorical = list(features), list(categorical)
    if fmt == "torch-zoo":
        return _load_zoo(data, features, categorical, encoder)
    if fmt == "torch-export":
        return _load_export(data, features, categorical, encoder, classes)
    if fmt == "sklearn":
        return _load_sklearn(data, features, categorical, train_frame)
    return _load_onnx(data, features, categorical, train_frame, classes)


def _check_probabilities(proba: Any, n: int, k: int) -> None:
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape != (n, k):
        raise ModelContractError(f"the model gives probabilities of shape {proba.shape}, expected ({n}, {k})")
    if not np.isfinite(proba).all():
        raise ModelContractError("the model gives non-finite probabilities")
    if (
        (proba < -1e-6).any()
        or (proba > 1 + 1e-6).any()
        or not np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    ):
        raise ModelContractError(
            "the model's probability rows are not in [0, 1] or do not sum to 1 "
            "(a black-box model must output probabilities, not logits)"
        )


def validate_contract(loaded: LoadedModel, frame32: pd.DataFrame) -> None:
    """Return None when the model runs on up to 32 rows and honours the output contract.

    Checks the probability shape (n, len(classes)), that rows are probabilities, that predictions
    are class indices, and (when the design matrix can be built) that the design-matrix path agrees
    with the raw-frame path. Raises ModelContractError with the reason otherwise.
    """
    rows = frame32.head(32).reset_index(drop=True)
    n, k = len(rows), len(loaded.classes)
    if k < 2:
        raise ModelContractError(f"a classifier needs at least two classes, got {loaded.classes}")
    try:
        proba = loaded.predict_proba(rows)
        labels = np.asarray(loaded.predict(rows))
    except (ModelContractError, ModelFormatError):
        raise
    except Exception as exc:  # the model's own runtime (torch, onnxruntime, sklearn) failed
        raise ModelContractError(f"the model failed on {n} rows of the dataset: {exc}") from exc
    if proba is not None:
        _check_probabilities(proba, n, k)
    if (
        labels.shape != (n,)
        or not np.issubdtype(labels.dtype, np.integer)
        or ((labels < 0) | (labels >= k)).any()
    ):
        raise ModelContractError(f"the model's predictions are not {n} class indices in [0, {k})")
    _check_design_path(loaded, rows, labels)


def _check_design_path(loaded: LoadedModel, rows: pd.DataFrame, labels: np.ndarray) -> None:
    try:
        matrix = loaded.design.matrix(rows)
    except ValueError:
        return  # no training frame to code categorical columns: only the raw-frame path exists
    if not np.array_equal(loaded.matrix_predict(matrix), labels):
        raise ModelContractError("the model predicts differently from its design matrix than from raw rows")
