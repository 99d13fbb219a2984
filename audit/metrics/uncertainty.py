"""95 % bootstrap intervals, vectorised: resample cells, not rows, wherever a statistic allows it.

Most audit statistics depend on each evaluation row only through a small code — its group, true
and predicted class (FAIR-*), whether it stays correct under an attack (ROB-*). Resampling n rows
with replacement is then exactly a multinomial draw of n over the observed codes with their
frequencies, so `n_boot` replicates cost one (n_boot, cells) draw however many rows there are.
PRIV-01 needs whole loss distributions and resamples rows (in chunks that bound memory).
Every interval is the 2.5 and 97.5 percentiles of the replicates (the percentile bootstrap).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["cell_bootstrap", "percentile_interval", "ks_bootstrap", "rng_for"]

MAX_CELLS = 200_000  # beyond this a cell bootstrap is no cheaper than resampling rows: no interval
ROW_CHUNK = 4_000_000  # replicate x rows held at once by the row bootstrap


def rng_for(seed: int, metric_id: str) -> np.random.Generator:
    """Return the generator of one metric's replicates (seeded from the audit seed and the metric id)."""
    return np.random.default_rng([seed, *metric_id.encode()])


def percentile_interval(replicates: np.ndarray) -> list[float] | None:
    """Return [2.5th, 97.5th] percentile of the finite replicates, or None when fewer than half are finite."""
    values = np.asarray(replicates, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if len(finite) == 0 or len(finite) < len(values) / 2:
        return None
    low, high = np.percentile(finite, [2.5, 97.5])
    return [float(low), float(high)]


def cell_bootstrap(codes: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
                   n_boot: int, rng: np.random.Generator) -> list[float] | None:
    """Return the 95 % interval of `statistic` under row resampling, drawn over the rows' codes.

    `codes` (n, c) or (n,) integer codes per row; `statistic(counts, cells)` gets the replicate
    counts (n_boot, J) of the J distinct code rows `cells` (J, c) and returns (n_boot,) values.
    """
    codes = np.asarray(codes)
    if n_boot <= 0 or len(codes) == 0:
        return None
    cells, counts = _cells(codes.reshape(len(codes), -1))
    if len(cells) > MAX_CELLS:
        return None
    draws = rng.multinomial(len(codes), counts / counts.sum(), size=n_boot)
    with np.errstate(divide="ignore", invalid="ignore"):
        return percentile_interval(statistic(draws, cells))


def _cells(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct code rows (sorted) and how many rows hold each, as np.unique(axis=0) does.

    Small non-negative integer codes are counted with one bincount of their mixed-radix key (linear
    in rows: millions of rows in milliseconds); anything else falls back to np.unique.
    """
    if codes.dtype.kind in "iub" and len(codes) and codes.min() >= 0:
        sizes = codes.max(axis=0).astype(np.int64) + 1
        if np.prod(sizes.astype(np.float64)) <= 4 * len(codes) + 1_000_000:
            key = np.zeros(len(codes), dtype=np.int64)
            for j, size in enumerate(sizes):  # mixed radix, first column most significant
                key *= size
                key += codes[:, j]
            counts = np.bincount(key, minlength=int(np.prod(sizes)))
            present = np.flatnonzero(counts)
            return np.column_stack(np.unravel_index(present, tuple(sizes))).astype(codes.dtype), counts[present]
    return np.unique(codes, axis=0, return_counts=True)


def ks_bootstrap(first: np.ndarray, second: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
                 *, n_boot: int, rng: np.random.Generator) -> list[float] | None:
    """Return the 95 % interval of a statistic of two samples, resampling each with replacement.

    The pooled values are sorted once; `statistic(order_is_first, w_first, w_second)` receives, in
    that order, which values come from `first` and the replicate weights (chunk, n) of each sample.
    """
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    if n_boot <= 0 or len(first) == 0 or len(second) == 0:
        return None
    pooled = np.concatenate([first, second])
    order = np.argsort(pooled, kind="stable")
    is_first = order < len(first)
    chunk = max(1, ROW_CHUNK // len(pooled))
    out = []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        w_first = rng.multinomial(len(first), np.full(len(first), 1 / len(first)), size=size)
        w_second = rng.multinomial(len(second), np.full(len(second), 1 / len(second)), size=size)
        weights = np.zeros((size, len(pooled)))
        weights[:, :len(first)], weights[:, len(first):] = w_first, w_second
        out.append(statistic(pooled[order], weights[:, order] * is_first, weights[:, order] * ~is_first))
    return percentile_interval(np.concatenate(out))
