"""Assay's registry of torch architectures: the code half of a torch-zoo model.

An architecture is a callable `factory(**args) -> torch.nn.Module` whose module maps a float32
tensor to logits (n, k) and has a `features(x)` method giving the penultimate-layer activations.
Architectures avoid BatchNorm so Opacus can train them with per-sample gradients.

Operators add architectures without touching Assay by installing a package that declares an entry
point in the group "assay.zoo", for example in its pyproject.toml::

    [project.entry-points."assay.zoo"]
    tabnet = "acme_models.tabnet:TabNet"

Built-in names win over entry points of the same name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

import torch
from torch import nn

from .zoo_bounds import BUILTIN_NAMES, MAX_PARAMETERS, check_arguments  # noqa: F401  (re-exported)

__all__ = [
    "ENTRY_POINT_GROUP",
    "CNN",
    "LogReg",
    "MLP",
    "available_architectures",
    "build_module",
    "check_arguments",
    "get_architecture",
    "register",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "assay.zoo"

Factory = Callable[..., nn.Module]

_BUILTIN: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    """Return a decorator that registers an architecture factory under `name`."""

    def decorator(factory: Factory) -> Factory:
        if name in _BUILTIN and _BUILTIN[name] is not factory:
            raise ValueError(f"architecture {name!r} is already registered")
        _BUILTIN[name] = factory
        return factory

    return decorator


def _entry_point_architectures() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in _BUILTIN}


def available_architectures() -> list[str]:
    """Return the names of every known architecture: built-in and from entry points."""
    return sorted(set(_BUILTIN) | set(_entry_point_architectures()))


def get_architecture(name: str) -> Factory:
    """Return the factory of architecture `name`, raising KeyError with the known names if none."""
    if name in _BUILTIN:
        return _BUILTIN[name]
    entry = _entry_point_architectures().get(name)
    if entry is None:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(available_architectures())}")
    factory = entry.load()
    if not callable(factory):
        raise TypeError(f"entry point {entry.value!r} for architecture {name!r} is not callable")
    return factory


def build_module(name: str, args: dict[str, Any]) -> nn.Module:
    """Return a fresh module of architecture `name` built with `args`, in eval mode."""
    factory = get_architecture(name)
    try:
        check_arguments(name, args)
    except ValueError as exc:
        raise ValueError(f"bad arguments for architecture {name!r}: {exc}") from None
    try:
        module = factory(**args)
    except TypeError as exc:
        raise ValueError(f"bad arguments for architecture {name!r}: {exc}") from exc
    if not isinstance(module, nn.Module):
        raise TypeError(f"architecture {name!r} returned {type(module).__name__}, not a torch module")
    return module.eval()


@register("logreg")
class LogReg(nn.Module):
    """Multinomial logistic regression: one linear layer. `features(x)` is the input itself."""

    def __init__(self, n_inputs: int, n_classes: int = 2) -> None:
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the penultimate activations: for a linear model, the input itself."""
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits (n, n_classes)."""
        return self.linear(x)


@register("mlp")
class MLP(nn.Module):
    """A ReLU multilayer perceptron with `hidden` widths and optional dropout after each layer."""

    def __init__(
        self, n_inputs: int, n_classes: int = 2, hidden: Sequence[int] = (64, 32), dropout: float = 0.0
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for size in hidden:
            layers += [nn.Linear(width, int(size)), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(size)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the last hidden layer's activations (n, hidden[-1])."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits (n, n_classes)."""
        return self.head(self.features(x))


@register("cnn")
class CNN(nn.Module):
    """A small conv net for (C, H, W) images: two conv + ReLU + max-pool blocks, one hidden layer."""

    def __init__(
        self,
        in_channels: int,
        height: int,
        width: int,
        n_classes: int = 2,
        channels: Sequence[int] = (16, 32),
        hidden: int = 64,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        depth, h, w = in_channels, height, width
        for size in channels:
            blocks += [nn.Conv2d(depth, int(size), kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            depth, h, w = int(size), h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(f"images of {height}x{width} are too small for {len(channels)} pooling blocks")
        self.conv = nn.Sequential(*blocks, nn.Flatten())
        self.hidden = nn.Sequential(nn.Linear(depth * h * w, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the hidden layer's activations (n, hidden)."""
        return self.hidden(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits (n, n_classes)."""
        return self.head(self.features(x))
