"""Bounds on the built-in zoo architectures' arguments, checked before torch is imported. No torch.

A zoo config is data from an upload: a negative width is a crash, a huge one gigabytes of memory
before any check could run. `audit.modelio.sniff` checks a bundle's config with these bounds first in
the sandboxed child, so a bad config answers in a fraction of a second; `zoo.build_module` checks
again before building.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BUILTIN_NAMES", "MAX_PARAMETERS", "check_arguments"]

BUILTIN_NAMES = ("logreg", "mlp", "cnn")  # the architectures zoo.py registers itself
MAX_PARAMETERS = 200_000_000
_INT_BOUNDS = {
    "n_inputs": (1, 1_000_000), "n_classes": (2, 10_000), "in_channels": (1, 64), "height": (1, 4096),
    "width": (1, 4096), "hidden": (1, 65_536),
}
_LIST_BOUNDS = {"hidden": (16, 1, 65_536), "channels": (8, 1, 4096)}  # (most items, smallest, largest)


def _bounded_int(name: str, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"architecture {name!r} argument {key!r} must be an integer from {low} to {high}, "
                         f"not {value!r}")
    return value


def check_arguments(name: str, args: dict[str, Any]) -> None:
    """Raise ValueError unless every argument of built-in architecture `name` is within its bounds.

    Entry-point architectures check their own arguments; built-in ones are also held to
    MAX_PARAMETERS, estimated before anything is allocated.
    """
    if name not in BUILTIN_NAMES:
        return
    if not isinstance(args, dict):
        raise ValueError(f"architecture {name!r} arguments must be a JSON object")
    for key, value in args.items():
        if key in _LIST_BOUNDS and isinstance(value, list | tuple):
            most, low, high = _LIST_BOUNDS[key]
            if len(value) > most:
                raise ValueError(f"architecture {name!r} argument {key!r} may list at most {most} sizes")
            for item in value:
                _bounded_int(name, key, item, low, high)
        elif key in _INT_BOUNDS:
            _bounded_int(name, key, value, *_INT_BOUNDS[key])
        elif key == "dropout":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(f"architecture {name!r} argument 'dropout' must be a number in [0, 1)")
        else:
            raise ValueError(f"architecture {name!r} has no argument {key!r}")
    if _parameter_estimate(name, args) > MAX_PARAMETERS:
        raise ValueError(f"architecture {name!r} with these arguments has more than {MAX_PARAMETERS:,} parameters")


def _parameter_estimate(name: str, args: dict[str, Any]) -> int:
    classes = int(args.get("n_classes", 2))
    if name == "logreg":
        return (int(args.get("n_inputs", 1)) + 1) * classes
    if name == "mlp":
        widths = [int(args.get("n_inputs", 1)), *map(int, args.get("hidden", (64, 32))), classes]
        return sum((a + 1) * b for a, b in zip(widths, widths[1:], strict=False))
    if name == "cnn":
        depth, area = int(args.get("in_channels", 1)), int(args.get("height", 1)) * int(args.get("width", 1))
        total = 0
        for size in map(int, args.get("channels", (16, 32))):
            total += (depth * 9 + 1) * size
            depth, area = size, area // 4
        hidden = int(args.get("hidden", 64))
        return total + (depth * max(area, 1) + 1) * hidden + (hidden + 1) * classes
    return 0


