"""Wilson intervals against hand-computed values, and the pass / fail / inconclusive rule."""

import math

import pytest

from genai import stats

Z = 1.959963984540054


class TestWilson:
    def test_all_failures_of_twenty(self):
        # upper bound z² / (n + z²) = 3.8415 / 23.8415
        low, high = stats.wilson(0, 20)
        assert low == 0.0
        assert high == pytest.approx(0.16113, abs=1e-5)

    def test_all_successes_of_ten(self):
        # lower bound n / (n + z²) = 10 / 13.8415
        low, high = stats.wilson(10, 10)
        assert low == pytest.approx(0.72246, abs=1e-5)
        assert high == 1.0

    def test_half_of_ten(self):
        # centre 0.5; half-width z·sqrt(0.025 + z²/400) / (1 + z²/10) = 0.26341
        low, high = stats.wilson(5, 10)
        assert (low, high) == (pytest.approx(0.23659, abs=1e-5), pytest.approx(0.76341, abs=1e-5))

    def test_ninety_five_of_hundred(self):
        p, n = 0.95, 100
        centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
        half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
        assert stats.wilson(95, 100) == (pytest.approx(centre - half), pytest.approx(centre + half))
        assert stats.wilson(95, 100)[0] == pytest.approx(0.88825, abs=1e-5)  # (0.969207 - 0.045103), by hand

    def test_empty_is_none(self):
        assert stats.wilson(0, 0) is None

    def test_it_refuses_impossible_counts(self):
        with pytest.raises(ValueError, match=r"successes must lie in \[0, n\]; got 3 of 2"):
            stats.wilson(3, 2)


class TestStatus:
    def test_pass_needs_the_bound_to_clear(self):
        # 1000 of 1000 refusals: lower bound 0.99617 ≥ 0.95
        assert stats.rate_with_threshold(1000, 1000, 0.95, higher_is_safe=True)["status"] == "pass"

    def test_few_items_are_inconclusive(self):
        # 10 of 10: point 1.0 ≥ 0.95 but the lower bound 0.72 is below it
        assert stats.rate_with_threshold(10, 10, 0.95, higher_is_safe=True)["status"] == "inconclusive"

    def test_point_estimate_below_fails(self):
        assert stats.rate_with_threshold(8, 10, 0.9, higher_is_safe=True)["status"] == "fail"

    def test_over_refusal_uses_the_upper_bound(self):
        assert stats.rate_with_threshold(0, 20, 0.05, higher_is_safe=False)["status"] == "inconclusive"  # 0.161 > 0.05
        assert stats.rate_with_threshold(0, 100, 0.05, higher_is_safe=False)["status"] == "pass"  # 0.037
        assert stats.rate_with_threshold(2, 20, 0.05, higher_is_safe=False)["status"] == "fail"

    def test_no_items(self):
        assert stats.rate_with_threshold(0, 0, 0.9, higher_is_safe=True) == {
            "value": None, "n": 0, "ci95": None, "threshold": 0.9, "status": "inconclusive"}
