import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score

from audit.metrics import fairness
from audit.metrics.base import AuditData, AuditModel
from audit.metrics.engine import run_audit

# Tiny example: groups a (4 rows) and b (4 rows).
Y_TRUE = np.array([1, 1, 0, 0, 1, 0, 0, 0])
Y_PRED = np.array([1, 0, 1, 1, 1, 1, 0, 0])
GROUP = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])


class TestGroupLayer:
    def test_confusion_counts(self):
        table, dropped = fairness.group_confusion(Y_TRUE, Y_PRED, GROUP)
        assert table.groups.tolist() == ["a", "b"]
        assert (table.tp.tolist(), table.fp.tolist(), table.tn.tolist(), table.fn.tolist()) == \
            ([1, 1], [2, 1], [0, 2], [1, 0])
        assert dropped == {}
        assert table.overall_accuracy == 4 / 8

    def test_min_group_size_drops_and_lists(self):
        table, dropped = fairness.group_confusion(Y_TRUE, Y_PRED, np.array(["a"] * 7 + ["c"]), min_group_size=2)
        assert table.groups.tolist() == ["a"] and dropped == {"c": 1}


class TestHandChecked:
    # selection: a 3/4, b 2/4; TPR: a 1/2, b 1; FPR: a 1, b 1/3; accuracy: a 1/4, b 3/4, all 4/8
    def test_demographic_parity(self):
        assert fairness.demographic_parity_difference(Y_TRUE, Y_PRED, sensitive_features=GROUP) == 0.25
        assert fairness.demographic_parity_ratio(Y_TRUE, Y_PRED, sensitive_features=GROUP) == 0.5 / 0.75

    def test_equalized_odds_and_opportunity(self):
        assert fairness.equalized_odds_difference(Y_TRUE, Y_PRED, sensitive_features=GROUP) == 1 - 1 / 3
        assert fairness.equal_opportunity_difference(Y_TRUE, Y_PRED, sensitive_features=GROUP) == 0.5

    def test_group_performance_rate(self):
        assert fairness.group_performance_difference_rate(Y_TRUE, Y_PRED, sensitive_features=GROUP) == 0.5 / 0.5

    def test_bias_propagation(self):
        # label rates: a 2/4, b 1/4: gap 0.25; prediction gap 0.25: ratio 1
        assert fairness.bias_propagation_coefficient(Y_TRUE, Y_PRED, sensitive_features=GROUP) == 1.0

    def test_bias_propagation_undefined_without_label_gap(self):
        y = np.array([1, 0, 1, 0])
        value = fairness.bias_propagation_coefficient(y, np.array([1, 1, 0, 0]), sensitive_features=np.array(list("aabb")))
        assert np.isnan(value)


class TestEdgeCases:
    def test_empty_input(self):
        with pytest.raises(ValueError, match="^Empty input: the fairness metrics need at least one row.$"):
            fairness.demographic_parity_difference(np.array([]), np.array([]), sensitive_features=np.array([]))

    def test_one_group(self):
        with pytest.raises(ValueError) as err:
            fairness.demographic_parity_difference(Y_TRUE, Y_PRED, sensitive_features=np.array(["a"] * 8))
        assert str(err.value) == "Only one group ('a') in the sensitive feature: a group comparison needs at least two."

    def test_one_class(self):
        with pytest.raises(ValueError) as err:
            fairness.equalized_odds_difference(np.zeros(8, int), Y_PRED, sensitive_features=GROUP)
        assert str(err.value) == "y_true holds a single class ([0]): TPR and FPR gaps need both classes."

    def test_length_mismatch(self):
        with pytest.raises(ValueError) as err:
            fairness.demographic_parity_difference(Y_TRUE, Y_PRED[:3], sensitive_features=GROUP)
        assert str(err.value) == "y_true, y_pred and sensitive_features must have the same length; got (8, 3, 8)."

    def test_non_binary(self):
        with pytest.raises(ValueError, match=r"must be binary \(0/1\) here; got values \[0, 1, 2\]"):
            fairness.demographic_parity_difference(Y_TRUE, np.where(Y_PRED == 1, 2, 0) + (Y_PRED == 0),
                                                   sensitive_features=GROUP)


class TestBinning:
    def test_quartiles_of_reference(self):
        labels, edges = fairness.bin_numeric(np.array([1, 5, 9]), edges=None, reference=np.arange(1, 13))
        assert edges == [3.75, 6.5, 9.25]
        assert labels.tolist() == ["<3.75", "[3.75, 6.5)", "[6.5, 9.25)"]

    def test_configured_edges(self):
        labels, edges = fairness.bin_numeric(np.array([20, 25, 70]), edges=[25, 60], reference=np.array([]))
        assert labels.tolist() == ["<25", "[25, 60)", ">=60"] and edges == [25.0, 60.0]

    def test_bad_edges(self):
        with pytest.raises(ValueError, match=r"^Bins for 'age' must be a strictly increasing list"):
            fairness.bin_numeric(np.array([1.0]), edges=[60, 25], reference=np.array([]), name="age")


def _peer(y, yhat, s):
    frame = MetricFrame(metrics={"tpr": true_positive_rate, "acc": accuracy_score}, y_true=y, y_pred=yhat,
                        sensitive_features=s)
    label_gap = demographic_parity_difference(y, y, sensitive_features=s)
    dp = demographic_parity_difference(y, yhat, sensitive_features=s)
    return {"FAIR-01": dp, "FAIR-02": demographic_parity_ratio(y, yhat, sensitive_features=s),
            "FAIR-03": equalized_odds_difference(y, yhat, sensitive_features=s),
            "FAIR-04": frame.difference()["tpr"], "FAIR-05": frame.difference()["acc"] / accuracy_score(y, yhat),
            "FAIR-06": dp / label_gap}


class TestAgainstFairlearn:
    @pytest.mark.parametrize("attribute", ["sex", "race"])
    def test_adult_every_metric(self, adult, adult_result, attribute):
        model, data, _ = adult
        yhat = model.predict(data.x_eval)
        expected = _peer(data.y_eval, yhat, data.sensitive_eval[attribute])
        for metric_id, value in expected.items():
            got = adult_result["metrics"][metric_id]["details"]["by_attribute"][attribute]["value"]
            assert got == pytest.approx(value, abs=1e-9), metric_id

    def test_worst_attribute_is_reported(self, adult_result):
        fair01 = adult_result["metrics"]["FAIR-01"]
        by_attr = fair01["details"]["by_attribute"]
        assert fair01["value"] == max(e["value"] for e in by_attr.values())
        fair02 = adult_result["metrics"]["FAIR-02"]
        assert fair02["value"] == min(e["value"] for e in fair02["details"]["by_attribute"].values())

    def test_black_box_gives_same_fairness(self, adult_result, black_box_result):
        for metric_id in fairness.FROM_TABLE:
            assert black_box_result["metrics"][metric_id]["value"] == adult_result["metrics"][metric_id]["value"]


def _tiny_audit(sensitive, config=None):
    x = np.arange(8, dtype=float).reshape(8, 1)
    proba = np.column_stack([1 - Y_PRED, Y_PRED]).astype(float)
    model = AuditModel(format="sklearn", classes=["no", "yes"], predict=lambda z: proba[z[:, 0].astype(int)].argmax(1),
                       predict_proba=lambda z: proba[z[:, 0].astype(int)])
    data = AuditData(x_train=x, x_eval=x, y_train=Y_TRUE, y_eval=Y_TRUE, sensitive_train=sensitive,
                     sensitive_eval=sensitive, columns=["x"], column_features=["x"], categorical=np.array([False]))
    only = ["FAIR-01", "FAIR-05", "DATA-02"]
    return {k: v for k, v in run_audit(model, data, config, device="cpu")["metrics"].items() if k in only}


class TestEngineGroupLayer:
    def test_numeric_attribute_is_binned_and_recorded(self):
        ages = {"age": np.array([18, 22, 30, 35, 41, 47, 52, 66]) * 1.0}
        out = _tiny_audit(ages, {"bins": {"age": [40]}})
        entry = out["FAIR-01"]["details"]["by_attribute"]["age"]
        assert entry["bins"] == [40.0] and set(entry["groups"]) == {"<40", ">=40"}

    def test_one_group_is_not_applicable_with_reason(self):
        out = _tiny_audit({"sex": np.array(["f"] * 8)})
        assert out["FAIR-01"]["status"] == "not_applicable"
        assert out["FAIR-01"]["reason"] == "no sensitive attribute has two groups of at least min_group_size rows"

    def test_no_sensitive_attribute(self):
        out = _tiny_audit({})
        assert out["FAIR-01"]["reason"] == "no sensitive attribute declared"
        assert out["DATA-02"]["reason"] == "no sensitive attribute declared"

    def test_small_groups_dropped_and_listed(self):
        groups = np.array(["a", "a", "a", "a", "b", "b", "b", "c"])
        out = _tiny_audit({"g": groups}, {"min_group_size": 2})
        entry = out["FAIR-01"]["details"]["by_attribute"]["g"]
        assert entry["dropped_groups"] == {"c": 1}
        assert out["FAIR-05"]["value"] == pytest.approx((2 / 3 - 1 / 4) / 0.5)
        assert out["DATA-02"]["value"] == 3 / 4
