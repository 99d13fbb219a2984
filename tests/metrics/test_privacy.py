import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from audit.metrics import privacy
from audit.metrics.base import AuditContext
from audit.metrics.state import sample_rows


def _brute_force(members, others):
    thresholds = np.concatenate([[-np.inf], np.unique(np.concatenate([members, others]))])
    best = 0.0
    for chunk in np.array_split(thresholds, max(1, len(thresholds) // 500)):
        tpr = (members[None, :] <= chunk[:, None]).mean(1)
        fpr = (others[None, :] <= chunk[:, None]).mean(1)
        best = max(best, float((tpr - fpr).max()))
    return best


class TestMembershipAdvantage:
    def test_hand_checked(self):
        # t = 0.2: TPR 2/3, FPR 0 -> 2/3
        assert privacy.membership_advantage(np.array([0.1, 0.2, 0.9]), np.array([0.5, 1.0])) == pytest.approx(2 / 3)

    def test_ties_are_not_split(self):
        # every loss equal: no threshold separates anything
        assert privacy.membership_advantage(np.ones(3), np.ones(4)) == 0.0

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_equals_brute_force_with_ties(self, seed):
        rng = np.random.default_rng(seed)
        members, others = rng.integers(0, 30, 400) / 10, rng.integers(2, 35, 300) / 10
        assert privacy.membership_advantage(members, others) == pytest.approx(_brute_force(members, others), abs=1e-12)
        assert privacy.roc_auc(members, others) == pytest.approx(
            roc_auc_score(np.r_[np.ones(400), np.zeros(300)], -np.r_[members, others]), abs=1e-12)

    def test_adult_equals_brute_force(self, adult_state, adult_result):
        state, n = adult_state, 5000
        members = state.losses("train")[sample_rows(len(state.data.x_train), n, seed=2)]
        others = state.losses("eval")[sample_rows(len(state.data.x_eval), n, seed=3)]
        entry = adult_result["metrics"]["PRIV-01"]
        assert entry["value"] == pytest.approx(_brute_force(members, others), abs=1e-12)
        assert entry["details"]["ks_critical_value"] == pytest.approx(1.36 * np.sqrt(2 / n))

    def test_below_ks_critical_value_passes(self, adult_result):
        entry = adult_result["metrics"]["PRIV-01"]
        if entry["value"] < entry["details"]["ks_critical_value"]:
            assert entry["status"] == "pass" and "indistinguishable" in entry["details"]["note"]

    def test_empty_raises(self):
        with pytest.raises(ValueError) as err:
            privacy.membership_advantage(np.array([]), np.array([1.0]))
        assert str(err.value) == "Membership inference needs at least one member and one non-member loss."


class TestDifferentialPrivacy:
    def _run(self, adult_state, context):
        adult_state.context = context
        try:
            return privacy.dp_epsilon_outcome(adult_state)
        finally:
            adult_state.context = None

    def test_outside_registry(self, adult_result):
        assert adult_result["metrics"]["PRIV-02"]["reason"] == "not a registered model"

    def test_not_trained_with_dp_fails_with_inf(self, adult_state):
        out = self._run(adult_state, AuditContext(registered=True))
        assert out.value is None and out.status == "fail" and out.details["epsilon"] == "inf"

    def test_recorded_epsilon(self, adult_state):
        out = self._run(adult_state, AuditContext(registered=True, dp={"epsilon": 1.5, "delta": 1e-5, "accountant": "rdp"}))
        assert out.value == 1.5 and out.details == {"delta": 1e-5, "accountant": "rdp"}


def test_generalisation_gap(adult, adult_result):
    model, data, _ = adult
    gap = np.mean(model.predict(data.x_train) == data.y_train) - np.mean(model.predict(data.x_eval) == data.y_eval)
    assert adult_result["metrics"]["PRIV-03"]["value"] == pytest.approx(gap, abs=1e-12)
