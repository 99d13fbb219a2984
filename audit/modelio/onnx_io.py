"""Run an ONNX classifier with onnxruntime: find its inputs, probability and label outputs, classes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .encoder import category_key
from .errors import ModelContractError, ModelFormatError

__all__ = ["OnnxClassifier", "check_graph"]

_CLASS_ATTRIBUTES = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")
_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


def _declared_classes(graph: Any) -> list[str] | None:
    import onnx

    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name in _CLASS_ATTRIBUTES:
                values = onnx.helper.get_attribute_value(attribute)
                return [category_key(v.decode() if isinstance(v, bytes) else v) for v in values]
    return None


def _pick_outputs(outputs: Sequence[Any]) -> tuple[str | None, bool, str | None]:
    zipmaps = [o.name for o in outputs if o.type.startswith("seq(map(")]
    tensors = [o.name for o in outputs if o.type in ("tensor(float)", "tensor(double)") and len(o.shape) == 2]
    labels = [o.name for o in outputs if o.type in ("tensor(int64)", "tensor(string)") and len(o.shape) == 1]
    if zipmaps:
        return zipmaps[0], True, labels[0] if labels else None
    named = [name for name in tensors if "prob" in name.lower()]
    probability = (named or tensors or [None])[0]
    return probability, False, labels[0] if labels else None


# Bounds on a graph Assay will hand to onnxruntime (the sandbox bounds its memory and time too).
MAX_NODES = 200_000
MAX_GRAPH_DEPTH = 16  # subgraphs (If, Loop, Scan bodies) inside subgraphs
STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")


def _tensors_of(attribute: Any) -> list[Any]:
    tensors = list(attribute.tensors)
    if attribute.HasField("t"):
        tensors.append(attribute.t)
    sparse = list(attribute.sparse_tensors)
    if attribute.HasField("sparse_tensor"):
        sparse.append(attribute.sparse_tensor)
    for item in sparse:
        tensors += [item.values, item.indices]
    return tensors


def _check_tensor(tensor: Any, where: str) -> None:
    import onnx

    if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0:
        raise ModelFormatError(f"the ONNX model reads tensor {tensor.name or where!r} from an external file; "
                               "Assay accepts only models with every tensor embedded")


def check_graph(model: Any) -> None:
    """Return None when the ONNX model embeds every tensor, uses standard operator domains and is bounded.

    Raises ModelFormatError for external data anywhere (initializers, sparse initializers, Constant
    attributes, subgraphs, functions), custom operator domains, or a graph beyond MAX_NODES nodes or
    MAX_GRAPH_DEPTH levels of subgraphs.
    """
    count = 0

    def walk(graph: Any, depth: int) -> None:
        nonlocal count
        if depth > MAX_GRAPH_DEPTH:
            raise ModelFormatError(f"the ONNX model nests subgraphs deeper than {MAX_GRAPH_DEPTH} levels")
        for tensor in graph.initializer:
            _check_tensor(tensor, "initializer")
        for sparse in graph.sparse_initializer:
            _check_tensor(sparse.values, "sparse initializer")
            _check_tensor(sparse.indices, "sparse initializer")
        for node in graph.node:
            count += 1
            if count > MAX_NODES:
                raise ModelFormatError(f"the ONNX model has more than {MAX_NODES:,} nodes")
            if node.domain not in STANDARD_DOMAINS:
                raise ModelFormatError(f"the ONNX model uses the custom operator domain {node.domain!r}; "
                                       "only the standard ONNX domains are accepted")
            for attribute in node.attribute:
                for tensor in _tensors_of(attribute):
                    _check_tensor(tensor, node.name or node.op_type)
                if attribute.HasField("g"):
                    walk(attribute.g, depth + 1)
                for sub in attribute.graphs:
                    walk(sub, depth + 1)

    walk(model.graph, 0)
    for function in model.functions:
        if function.domain not in STANDARD_DOMAINS:
            raise ModelFormatError("the ONNX model defines functions; Assay accepts only standard operators")
    for opset in model.opset_import:
        if opset.domain not in STANDARD_DOMAINS:
            raise ModelFormatError(f"the ONNX model imports the custom operator set {opset.domain!r}")


class OnnxClassifier:
    """An onnxruntime session seen as a classifier with named-column or single-tensor input."""

    def __init__(self, data: bytes, features: Sequence[str]) -> None:
        import onnx
        import onnxruntime as ort

        try:
            proto = onnx.load_model_from_string(data)
        except Exception as exc:  # protobuf raises its own error types
            raise ModelFormatError(f"the file is not a readable ONNX model: {exc}") from exc
        check_graph(proto)
        try:
            self.session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own error types
            raise ModelFormatError(f"onnxruntime cannot load this ONNX model: {exc}") from exc
        self.inputs = self.session.get_inputs()
        self.features = list(features)
        self.declared_classes = _declared_classes(proto.graph)
        self.probability, self.zipmap, self.label = _pick_outputs(self.session.get_outputs())
        if self.probability is None and self.label is None:
            raise ModelFormatError("the ONNX model has neither a probability output nor a label output")
        names = {i.name for i in self.inputs}
        self.single_tensor = len(self.inputs) == 1 and not names <= set(self.features)
        if not self.single_tensor and not names <= set(self.features):
            raise ModelContractError(
                f"the ONNX model's inputs {sorted(names - set(self.features))} are not dataset features"
            )

    def feeds_from_frame(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Return the input feeds for a raw frame, each column cast to its declared ONNX type."""
        if self.single_tensor:
            return self.feeds_from_matrix(frame[self.features].to_numpy(dtype=np.float64, na_value=np.nan))
        feeds = {}
        for spec in self.inputs:
            column = frame[spec.name]
            if spec.type == "tensor(string)":
                values = np.array([category_key(v) or "" for v in column], dtype=object)
            elif spec.type in _NUMPY_TYPES:
                numeric = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
                if np.issubdtype(_NUMPY_TYPES[spec.type], np.integer):
                    numeric = np.nan_to_num(numeric, nan=0.0)
                values = numeric.astype(_NUMPY_TYPES[spec.type])
            else:
                raise ModelContractError(f"ONNX input {spec.name!r} has unsupported type {spec.type}")
            feeds[spec.name] = values.reshape(-1, 1) if len(spec.shape) == 2 else values
        return feeds

    def feeds_from_matrix(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        """Return the feeds of a single-tensor model for a numeric matrix."""
        spec = self.inputs[0]
        dtype = _NUMPY_TYPES.get(spec.type)
        if dtype is None:
            raise ModelContractError(f"ONNX input {spec.name!r} has unsupported type {spec.type}")
        return {spec.name: np.asarray(matrix).astype(dtype)}

    def run(
        self, feeds: dict[str, np.ndarray], classes: Sequence[str]
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """Return (probabilities (n, k) or None, class indices (n,)) for the feeds."""
        names = [name for name in (self.probability, self.label) if name is not None]
        results = dict(zip(names, self.session.run(names, feeds), strict=True))
        proba = None
        if self.probability is not None:
            raw = results[self.probability]
            if self.zipmap:
                raw = [[row[key] for key in _zipmap_keys(row, classes)] for row in raw]
            proba = np.asarray(raw, dtype=np.float64)
        if self.label is not None and proba is None:
            index = {label: i for i, label in enumerate(classes)}
            keys = [category_key(v.decode() if isinstance(v, bytes) else v) for v in results[self.label]]
            unknown = sorted({key for key in keys if key not in index})
            if unknown:
                raise ModelContractError(
                    f"the ONNX model predicts labels {unknown} outside classes {list(classes)}"
                )
            return None, np.array([index[key] for key in keys], dtype=np.int64)
        return proba, np.asarray(proba).argmax(axis=1)


def _zipmap_keys(row: dict[Any, float], classes: Sequence[str]) -> list[Any]:
    by_key = {category_key(key): key for key in row}
    missing = [c for c in classes if c not in by_key]
    if missing:
        raise ModelContractError(f"the ONNX probability map lacks classes {missing}")
    return [by_key[c] for c in classes]
