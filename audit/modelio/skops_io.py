"""Load a scikit-learn model saved with skops, trusting only scikit-learn, NumPy and SciPy types."""

from __future__ import annotations

from typing import Any

from .errors import ModelFormatError

__all__ = ["TRUSTED_PACKAGES", "load_skops", "refused_types"]

TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")
# Parts of the trusted packages that read or write files or run code; never trusted.
_DENIED_PREFIXES = (
    "numpy.testing", "numpy.f2py", "numpy.distutils", "numpy.ctypeslib", "numpy.lib.npyio",
    "numpy.lib._npyio_impl", "scipy.io", "scipy._lib", "sklearn.utils._testing", "sklearn.datasets",
)  # fmt: skip
_DENIED_NAMES = {
    "numpy.load", "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt",
    "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile", "numpy.fromregex", "numpy.memmap",
    "numpy.tofile", "numpy.DataSource",
}  # fmt: skip


def _trusted(name: str) -> bool:
    if name in _DENIED_NAMES or any(name == p or name.startswith(p + ".") for p in _DENIED_PREFIXES):
        return False
    return name.split(".", 1)[0] in TRUSTED_PACKAGES


def refused_types(data: bytes) -> tuple[list[str], list[str]]:
    """Return (accepted, refused) among the types skops reports as untrusted in `data`."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises assorted errors on a malformed archive
        raise ModelFormatError(f"not a valid skops file: {exc}") from exc
    accepted = [name for name in untrusted if _trusted(name)]
    return accepted, [name for name in untrusted if not _trusted(name)]


def load_skops(data: bytes) -> Any:
    """Return the estimator in the skops bytes `data`.

    Accepts skops' default trusted types plus the types from the sklearn, numpy and scipy
    packages that skops reports as untrusted; raises ModelFormatError naming any other type.
    """
    import skops.io as sio

    accepted, refused = refused_types(data)
    if refused:
        raise ModelFormatError(f"the skops file contains types Assay does not trust: {', '.join(refused)}")
    try:
        return sio.loads(data, trusted=accepted)
    except Exception as exc:  # skops raises assorted errors on a malformed archive
        raise ModelFormatError(f"the skops file could not be loaded: {exc}") from exc
