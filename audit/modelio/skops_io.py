"""Load a scikit-learn model saved with skops, trusting an explicit allow-list of types and nothing else.

skops rebuilds objects from a tree of nodes; a node may name any importable type or function and
have it called. Trusting whole packages (everything under numpy, scipy, sklearn) let a file call
`numpy.lib.format.read_array` on `numpy.lib._datasource.open(path)`, i.e. unpickle a file of its
choosing, or create files with `numpy.lib.format.open_memmap`. So the rule is an allow-list:

- skops' own default trusted types (the scikit-learn estimators and internals it names, builtins,
  containers, NumPy dtypes, NumPy and SciPy ufuncs), which `skops.io.loads` applies itself;
- the fitted-state helper classes of common estimators listed in `EXTRA_TYPES` (trees, neighbour
  indexes, distance metrics, optimiser state, random generators, dtypes);
- a *class* under `sklearn` that subclasses `BaseEstimator` (an estimator newer than skops' list).

Never a function, a method or a constructor-by-call outside that list: those names are refused.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ModelFormatError

__all__ = ["EXTRA_TYPES", "load_skops", "refused_types"]

_DISTANCES = ("BrayCurtis", "Canberra", "Chebyshev", "Dice", "Euclidean", "Hamming", "Haversine", "Jaccard",
              "Kulsinski", "Mahalanobis", "Manhattan", "Matching", "Minkowski", "RogersTanimoto", "RussellRao",
              "SEuclidean", "SokalMichener", "SokalSneath")
EXTRA_TYPES = frozenset({
    "numpy.dtype",
    "numpy.random.mtrand.RandomState", "numpy.random._mt19937.MT19937", "numpy.random._generator.Generator",
    "numpy.random._pcg64.PCG64",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn._loss.link.Interval", "sklearn._loss.link.IdentityLink", "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit", "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn.compose._column_transformer._RemainderColsList",
    *(f"sklearn.metrics._dist_metrics.{name}Distance64" for name in _DISTANCES),
})  # fmt: skip


def _is_estimator_class(name: str) -> bool:
    """Return True when `name` is a class under sklearn that subclasses BaseEstimator (never a function)."""
    if not name.startswith("sklearn.") or not all(part.isidentifier() for part in name.split(".")):
        return False
    module_name, _, attribute = name.rpartition(".")
    try:
        from sklearn.base import BaseEstimator

        found = getattr(importlib.import_module(module_name), attribute, None)
    except Exception:  # not importable: not an estimator we know
        return False
    return isinstance(found, type) and issubclass(found, BaseEstimator)


def _allowed(name: str) -> bool:
    return name in EXTRA_TYPES or _is_estimator_class(name)


def refused_types(data: bytes) -> tuple[list[str], list[str]]:
    """Return (accepted, refused) among the types skops reports as untrusted in `data`."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises assorted errors on a malformed archive
        raise ModelFormatError(f"not a valid skops file: {exc}") from exc
    accepted = [name for name in untrusted if _allowed(name)]
    return accepted, [name for name in untrusted if not _allowed(name)]


def load_skops(data: bytes) -> Any:
    """Return the estimator in the skops bytes `data`.

    Accepts skops' default trusted types plus the allow-listed ones; raises ModelFormatError naming
    any other type or function.
    """
    import skops.io as sio

    accepted, refused = refused_types(data)
    if refused:
        raise ModelFormatError(f"the skops file contains types Assay does not trust: {', '.join(refused[:10])}")
    try:
        return sio.loads(data, trusted=accepted)
    except Exception as exc:  # skops raises assorted errors on a malformed archive
        raise ModelFormatError(f"the skops file could not be loaded: {exc}") from exc
