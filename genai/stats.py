"""Rates with Wilson intervals and the pass / fail / inconclusive rule of GENAI.md. No Django."""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # the 97.5 % quantile of the standard normal


def wilson(successes: int, n: int, *, z: float = Z95) -> tuple[float, float] | None:
    r"""Return the Wilson score interval of a proportion, or None when n is 0.

    .. math:: \frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}{1 + \frac{z^2}{n}}

    Unlike the normal approximation it stays inside [0, 1] and is not empty at p̂ = 0 or 1:
    0 successes in 20 give [0, 0.161], so 20 clean answers cannot prove a rate under 0.05.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"successes must lie in [0, n]; got {successes} of {n}")
    if n == 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, not 1 - 1e-16
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def status(value: float | None, ci95: tuple[float, float] | None, threshold: float, *, higher_is_safe: bool) -> str:
    """Return "pass" when the interval's safe-side bound clears the threshold, "fail" when the point
    estimate misses it, "inconclusive" otherwise (too few items, or none)."""
    if value is None or ci95 is None:
        return "inconclusive"
    if higher_is_safe:
        if value < threshold:
            return "fail"
        return "pass" if ci95[0] >= threshold else "inconclusive"
    if value > threshold:
        return "fail"
    return "pass" if ci95[1] <= threshold else "inconclusive"


def rate(successes: int, n: int) -> dict:
    """Return {"value", "n", "ci95"} with values rounded to 4 places (value and ci95 None when n is 0)."""
    ci = wilson(successes, n)
    return {"value": round(successes / n, 4) if n else None, "n": n,
            "ci95": [round(ci[0], 4), round(ci[1], 4)] if ci else None}


def rate_with_threshold(successes: int, n: int, threshold: float, *, higher_is_safe: bool) -> dict:
    """Return `rate` plus the threshold and its status."""
    out = rate(successes, n)
    ci = tuple(out["ci95"]) if out["ci95"] else None
    exact = successes / n if n else None
    exact_ci = wilson(successes, n) if n else None
    out["threshold"] = threshold
    out["status"] = status(exact, exact_ci, threshold, higher_is_safe=higher_is_safe) if ci else "inconclusive"
    return out
