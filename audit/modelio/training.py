"""Train a zoo model on a frame, and export torch modules to the other accepted formats."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .encoder import EncoderSpec, category_key, category_keys, default_categorical
from .zoo import build_module

__all__ = ["export_onnx", "export_torch", "train_on_arrays", "train_zoo_model"]


def _classes_and_targets(
    frame: pd.DataFrame, target: str, positive_label: Any
) -> tuple[list[str], np.ndarray]:
    keys = category_keys(frame[target])
    if any(key is None for key in keys):
        raise ValueError(f"target column {target!r} has missing values")
    classes = sorted(set(keys))
    if len(classes) < 2:
        raise ValueError(f"target column {target!r} needs at least two classes, found {classes}")
    if category_key(positive_label) not in classes:
        raise ValueError(f"positive label {positive_label!r} is not a value of {target!r}: {classes}")
    index = {value: i for i, value in enumerate(classes)}
    return classes, np.array([index[key] for key in keys], dtype=np.int64)


def _fit(
    module: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
) -> None:
    optimiser = torch.optim.Adam(module.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            optimiser.zero_grad()
            loss_fn(module(x[batch]), y[batch]).backward()
            optimiser.step()
    module.eval()


def train_zoo_model(
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    target: str,
    positive_label: Any,
    categorical: Sequence[str] | None = None,
    architecture: str = "mlp",
    args: dict[str, Any] | None = None,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """Return a zoo model trained on `frame` and its bundle config.

    The same frame, arguments and seed give the same weights on the same device (the global
    torch random state is left untouched). Classes are the sorted distinct target values as
    strings; `n_inputs` and `n_classes` are filled into `args` unless given.
    """
    features = list(features)
    if categorical is None:
        categorical = default_categorical(frame, features)
    encoder = EncoderSpec.fit(frame, features, categorical)
    classes, targets = _classes_and_targets(frame, target, positive_label)
    args = {"n_inputs": len(encoder.columns), "n_classes": len(classes), **(args or {})}
    module = train_on_arrays(encoder.transform(frame), targets, architecture=architecture, args=args,
                             epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
    config = {
        "architecture": architecture,
        "args": args,
        "encoder": encoder.to_json(),
        "classes": classes,
        "features": features,
        "outputs": "logits",
        "positive_label": category_key(positive_label),
    }
    return module, config


def train_on_arrays(
    x: np.ndarray,
    y: np.ndarray,
    *,
    architecture: str = "mlp",
    args: dict[str, Any],
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
) -> nn.Module:
    """Return a zoo model trained with Adam on an encoded design matrix `x` (n, p) and class indices `y` (n,).

    `args` are the architecture's (`n_inputs`, `n_classes`, …). The same inputs and seed give the
    same weights on the same device; the global torch random state is left untouched.
    """
    xt = torch.as_tensor(x, dtype=torch.float32).to(device)
    yt = torch.as_tensor(y, dtype=torch.int64).to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        module = build_module(architecture, args).to(device)
        _fit(module, xt, yt, epochs=epochs, batch_size=batch_size, lr=lr, generator=generator)
    return module.cpu().eval()


def _batched_example(example: torch.Tensor) -> torch.Tensor:
    # torch.export specialises a dimension of size 0 or 1, so the example needs two rows or more.
    example = example.detach().float().cpu()
    return example if len(example) >= 2 else example.repeat(2, *([1] * (example.dim() - 1)))


def export_torch(module: nn.Module, example: torch.Tensor) -> bytes:
    """Return `module` (in eval mode) exported with torch.export as `.pt2` bytes, batch size dynamic."""
    example = _batched_example(example)
    batch = torch.export.Dim("batch")
    program = torch.export.export(module.eval(), (example,), dynamic_shapes=({0: batch},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


class _Probabilities(nn.Module):
    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.module(x), dim=1)


def export_onnx(module: nn.Module, example: torch.Tensor) -> bytes:
    """Return `module` exported to ONNX bytes: input "input", output "probabilities" (softmax added).

    ONNX models are black boxes to Assay and must give probabilities, hence the softmax.
    """
    example = _batched_example(example)
    batch = torch.export.Dim("batch")
    program = torch.onnx.export(
        _Probabilities(module).eval(),
        (example,),
        dynamo=True,
        input_names=["input"],
        output_names=["probabilities"],
        dynamic_shapes=({0: batch},),
        verbose=False,
    )
    return program.model_proto.SerializeToString()
