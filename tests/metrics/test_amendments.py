"""The December amendments of METRICS.md: intervals, black-box refinement, surrogate, PRIV-01, baseline, samples."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference

from audit.metrics import robustness as rob
from audit.metrics.base import AuditModel
from audit.metrics.engine import run_audit, validate_config
from audit.metrics.privacy import membership_outcome
from audit.metrics.state import AuditState, sample_rows
from audit.metrics.uncertainty import cell_bootstrap, percentile_interval

SMALL = {"ig_rows": 200, "sensitivity_rows": 50, "surrogate_rows": 2000, "mia_rows": 500, "poisoning_rows": 500}


def test_fair01_interval_matches_a_brute_force_row_bootstrap(adult, adult_result):
    """The cell bootstrap resamples codes; a row bootstrap with fairlearn gives the same interval."""
    _, data, _ = adult
    entry = adult_result["metrics"]["FAIR-01"]
    low, high = entry["details"]["ci95"]
    assert low <= entry["value"] <= high and entry["details"]["n_boot"] == 200
    yhat = adult_result_predictions(adult)
    worst = entry["details"]["worst_attribute"]
    groups = np.asarray(data.sensitive_eval[worst]).astype(str)
    rng = np.random.default_rng(1)
    replicates = []
    for _ in range(400):
        i = rng.integers(0, len(yhat), len(yhat))
        replicates.append(demographic_parity_difference(data.y_eval[i], yhat[i], sensitive_features=groups[i]))
    ref_low, ref_high = percentile_interval(np.array(replicates))
    # worst-over-attributes vs one attribute and Monte Carlo noise: agree to within a few hundredths
    assert abs(low - ref_low) < 0.03 and abs(high - ref_high) < 0.03


def adult_result_predictions(adult) -> np.ndarray:
    model, data, _ = adult
    return np.asarray(model.predict(data.x_eval))


def test_cell_bootstrap_of_a_mean_is_the_binomial_interval():
    codes = np.r_[np.ones(300, int), np.zeros(700, int)]
    interval = cell_bootstrap(codes, lambda w, cells: (w @ cells[:, 0]) / w.sum(axis=1), n_boot=4000,
                              rng=np.random.default_rng(0))
    se = np.sqrt(0.3 * 0.7 / 1000)
    assert interval[0] == pytest.approx(0.3 - 1.96 * se, abs=0.004)
    assert interval[1] == pytest.approx(0.3 + 1.96 * se, abs=0.004)


def test_intervals_are_seeded_and_cover_the_value(adult, adult_result):
    model, data, _ = adult
    again = run_audit(model, data, device="cpu")
    for mid in ("FAIR-01", "FAIR-02", "FAIR-03", "FAIR-04", "FAIR-05", "FAIR-06", "PRIV-01", "ROB-01", "ROB-02",
                "ROB-03", "ROB-04"):
        entry = adult_result["metrics"][mid]
        if entry["value"] is None:
            continue
        low, high = entry["details"]["ci95"]
        assert low - 1e-9 <= entry["value"] <= high + 1e-9 or mid == "PRIV-01", mid  # PRIV-01 is a max: biased up
        assert again["metrics"][mid]["details"]["ci95"] == [low, high], mid


def test_random_search_flips_a_model_the_gradient_cannot_see():
    """A step function has no useful surrogate gradient; the query-based search still finds the flip."""
    def proba(x):  # class 1 only inside the corner x0 > 0.55 and x1 > 0.55
        inside = (x[:, 0] > 0.55) & (x[:, 1] > 0.55)
        p1 = np.where(inside, 0.9, 0.1)
        return np.c_[1 - p1, p1]

    x = np.full((50, 3), 0.5)
    y = np.zeros(50, dtype=int)
    scale, mask = np.ones(3), np.array([1.0, 1.0, 0.0])
    adv, used = rob.random_search(proba, x, x.copy(), y, epsilon=0.1, scale=scale, mask=mask, low=np.zeros(3),
                                  high=np.ones(3), queries=50, rng=np.random.default_rng(0))
    assert np.all(np.abs(adv - x) <= 0.1 + 1e-12) and np.all(adv[:, 2] == 0.5)  # in the ball, fixed column kept
    assert (proba(adv).argmax(axis=1) != y).mean() > 0.9 and used <= 50 * 51


def test_black_box_rob02_refines_and_records_its_budget(adult):
    model, data, _ = adult
    black = AuditModel(format="onnx", classes=model.classes, predict=model.predict, predict_proba=model.predict_proba)
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=Warning)  # the ROB-03 surrogate converges: no ConvergenceWarning
        result = run_audit(black, data, {**SMALL, "query_budget": 30}, device="cpu")
    rob02, rob01 = result["metrics"]["ROB-02"], result["metrics"]["ROB-01"]
    refinement = rob02["details"]["refinement"]
    assert refinement["query_budget_per_row"] == 30 and refinement["queries_used"] > 0
    assert rob02["value"] <= rob01["value"]
    off = run_audit(black, data, {**SMALL, "query_budget": 0}, device="cpu")["metrics"]["ROB-02"]
    assert "refinement" not in off["details"] and rob02["value"] <= off["value"]


def test_priv01_uses_every_row_up_to_its_cap_and_is_stable_across_seeds(adult):
    model, data, _ = adult
    values = []
    for seed in range(4):
        state = AuditState(model, data, validate_config({"seed": seed, "mia_rows": 20000}), device="cpu")
        outcome = membership_outcome(state)
        assert outcome.details["members"] == 20000 and outcome.details["non_members"] == len(data.x_eval)
        values.append(outcome.value)
    assert max(values) - min(values) < 0.01


def test_baseline_flags_a_model_that_predicts_one_class(adult):
    model, data, _ = adult
    majority = int(np.bincount(data.y_train).argmax())
    constant = AuditModel(format="onnx", classes=model.classes,
                          predict=lambda x: np.full(len(x), majority),
                          predict_proba=lambda x: np.tile(np.eye(len(model.classes))[majority], (len(x), 1)))
    result = run_audit(constant, data, SMALL, device="cpu")
    assert result["trivial_model"] is True
    assert result["baseline"]["accuracy"] == pytest.approx(result["baseline"]["majority_accuracy"])
    assert result["baseline"]["predicted_classes"] == 1


def test_samples_record_seed_size_and_a_hash_of_the_rows(adult_result, adult):
    _, data, _ = adult
    sample = adult_result["samples"]["DATA-03"]
    rows = sample_rows(len(data.x_train), 2000, seed=sample["seed"])
    assert sample["size"] == len(rows) and sample["population"] == len(data.x_train)
    assert sample["sha256"] == hashlib.sha256(rows.astype(np.int64).tobytes()).hexdigest()


def test_informational_metrics_leave_the_dimension_score(adult):
    from audit.metrics.base import AuditContext

    model, data, _ = adult
    context = AuditContext(thresholds={"ROB-04": {"informational": True}, "ROB-01": {"pass": 0.999, "warn": 0.99}})
    result = run_audit(model, data, SMALL, context=context, device="cpu")
    assert result["metrics"]["ROB-04"]["informational"] is True
    assert result["dimensions"]["robustness"]["informational"] == ["ROB-04"]
    assert result["thresholds"]["ROB-01"] == {"pass": 0.999, "warn": 0.99, "direction": "higher",
                                              "source": "organisation"}
    counted = [result["metrics"][m]["status"] for m in ("ROB-01", "ROB-02", "ROB-03")]
    points = [{"pass": 1, "warn": 0.5, "fail": 0}[s] for s in counted if s != "not_applicable"]
    assert result["dimensions"]["robustness"]["score"] == pytest.approx(sum(points) / len(points))
