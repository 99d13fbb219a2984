import json

import numpy as np
import pytest
import torch

from audit.metrics import transparency
from audit.metrics.base import AuditContext, AuditData, AuditModel
from audit.metrics.catalog import CATALOG, DIMENSIONS, dimension_scores, status_for
from audit.metrics.engine import AuditCancelled, run_audit, validate_config

SMALL = {"ig_rows": 200, "sensitivity_rows": 50, "surrogate_rows": 2000, "mia_rows": 500, "poisoning_rows": 500}


class TestConfig:
    def test_defaults(self):
        config = validate_config()
        assert config["epsilon"] == 0.1 and config["noise_sigma"] == 0.1 and config["infidelity_samples"] == 10
        assert validate_config(image=True)["epsilon"] == 8 / 255
        assert validate_config(image=True)["noise_sigma"] == 0.05

    @pytest.mark.parametrize(("config", "message"), [
        ({"epsilom": 0.1}, "Unknown audit config key(s): epsilom. Known keys: seed, epsilon,"),
        ({"epsilon": -0.1}, "Audit config 'epsilon' must be a finite number > 0; got -0.1."),
        ({"epsilon": "big"}, "Audit config 'epsilon' must be a finite number > 0; got 'big'."),
        ({"ig_rows": 0}, "Audit config 'ig_rows' must be an integer >= 1; got 0."),
        ({"pgd_steps": 2.5}, "Audit config 'pgd_steps' must be an integer >= 1; got 2.5."),
        ({"seed": True}, "Audit config 'seed' must be an integer >= 0; got True."),
        ({"bins": {"age": [60, 25]}}, "Audit config 'bins' must map attribute names to strictly increasing"),
        ({"sensitive_attributes": "sex"}, "Audit config 'sensitive_attributes' must be a list of attribute names"),
    ])
    def test_nonsense_raises(self, config, message):
        with pytest.raises(ValueError) as err:
            validate_config(config)
        assert str(err.value).startswith(message)

    def test_unknown_sensitive_attribute(self, adult):
        model, data, _ = adult
        with pytest.raises(ValueError) as err:
            run_audit(model, data, {"sensitive_attributes": ["religion"]})
        assert str(err.value) == "Sensitive attribute(s) ['religion'] not in the data; declared: ['race', 'sex']."


class TestStatus:
    def test_lower_is_better_inclusive(self):
        assert [status_for("FAIR-01", v) for v in (0.10, 0.15, 0.2, 0.21)] == ["pass", "warn", "warn", "fail"]

    def test_higher_is_better_inclusive(self):
        assert [status_for("FAIR-02", v) for v in (0.8, 0.7, 0.6, 0.59)] == ["pass", "warn", "warn", "fail"]

    def test_override(self):
        assert status_for("FAIR-01", 0.15, {"pass": 0.2}) == "pass"
        assert status_for("FAIR-01", 0.15, {"pass": 0.05, "warn": 0.1}) == "fail"

    def test_bad_override(self):
        with pytest.raises(ValueError) as err:
            status_for("FAIR-01", 0.1, {"pass": 0.3, "warn": 0.2})
        assert str(err.value) == "Thresholds for FAIR-01 are in the wrong order for a 'lower'-is-better metric: pass 0.3, warn 0.2."
        with pytest.raises(ValueError, match="^Unknown metric id 'FAIR-99'.$"):
            status_for("FAIR-99", 0.1)

    def test_none_value_fails(self):
        assert status_for("ROB-01", None) == "fail"

    def test_dimension_scores(self):
        scores = dimension_scores({"FAIR-01": "pass", "FAIR-02": "warn", "FAIR-03": "fail",
                                   "FAIR-04": "not_applicable", "FAIR-05": "pass", "FAIR-06": "pass"})
        assert scores["fairness"]["score"] == pytest.approx(3.5 / 5)
        assert scores["transparency"]["score"] is None


class TestCatalog:
    def test_23_metrics_in_6_dimensions(self):
        assert len(CATALOG) == 23 and len(DIMENSIONS) == 6
        assert all(spec.clauses for spec in CATALOG.values())


class TestRunAudit:
    def test_result_shape_and_reasons(self, adult_result):
        assert set(adult_result) == {"config", "metrics", "dimensions", "timings", "device", "baseline", "trivial_model",
                                     "thresholds", "samples"}
        assert set(adult_result["metrics"]) == set(CATALOG)
        for metric_id, entry in adult_result["metrics"].items():
            assert set(entry) == {"value", "status", "reason", "details", "duration_s"}
            assert (entry["status"] == "not_applicable") == (entry["reason"] is not None), metric_id
        assert adult_result["metrics"]["TRANS-01"]["reason"] == "not a registered model"
        assert adult_result["metrics"]["EXPL-05"]["details"]["training_data"].startswith("assumed")
        json.dumps(adult_result, allow_nan=False)

    def test_same_audit_twice_is_identical(self, adult, adult_result):
        model, data, _ = adult
        again = run_audit(model, data, device="cpu")
        for metric_id in CATALOG:
            assert again["metrics"][metric_id]["value"] == adult_result["metrics"][metric_id]["value"], metric_id

    def test_progress_and_cancel(self, adult):
        model, data, _ = adult
        seen = []
        run_audit(model, data, SMALL, progress=lambda pct, mid: seen.append((pct, mid)))
        assert [m for _, m in seen] == list(CATALOG) and seen[-1][0] == 100
        with pytest.raises(AuditCancelled, match="^audit cancelled before FAIR-04$"):
            run_audit(model, data, SMALL, should_cancel=lambda: len(seen) > 25,
                      progress=lambda pct, mid: seen.append(mid))

    def test_registry_context(self, adult):
        model, data, _ = adult
        card = {f: "x" for f in transparency.MODEL_CARD_FIELDS[:6]}
        context = AuditContext(registered=True, model_card=card, datasheet={"sources": "census"},
                               audit_trail={"chain_ok": True, "expected": ["register", "upload"], "present": ["register"]},
                               thresholds={"TRANS-01": {"pass": 0.5, "warn": 0.4}})
        result = run_audit(model, data, SMALL, context=context)["metrics"]
        assert result["TRANS-01"]["value"] == pytest.approx(7 / 12) and result["TRANS-01"]["status"] == "pass"
        assert result["TRANS-02"]["value"] == 0.5 and result["TRANS-02"]["details"]["missing"] == ["upload"]
        assert result["DATA-01"]["value"] == 1 / 8
        assert result["PRIV-02"]["status"] == "fail" and result["PRIV-02"]["details"]["epsilon"] == "inf"

    def test_empty_eval(self, adult):
        model, data, _ = adult
        empty = AuditData(**{**data.__dict__, "x_eval": data.x_eval[:0], "y_eval": data.y_eval[:0]})
        with pytest.raises(ValueError) as err:
            run_audit(model, empty)
        assert str(err.value) == "The audit needs evaluation rows; x_eval is empty."


def test_audit_trail_broken_chain_scores_zero():
    trail = {"chain_ok": False, "expected": ["a"], "present": ["a"]}
    assert transparency.audit_trail_integrity(trail) == 0.0


def test_multiclass_reports_worst_class():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3))
    y = np.digitize(x[:, 0], [-0.5, 0.5])
    torch.manual_seed(0)
    module = torch.nn.Linear(3, 3)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[-3.0, 0, 0], [0, 0, 0], [3.0, 0, 0]]))
        module.bias.zero_()
    groups = np.where(x[:, 1] > 0, "a", "b")
    model = AuditModel(format="torch-zoo", classes=["lo", "mid", "hi"], torch_module=module, outputs="logits",
                       predict=lambda z: module(torch.as_tensor(z, dtype=torch.float32)).argmax(1).numpy())
    data = AuditData(x_train=x, x_eval=x, y_train=y, y_eval=y, sensitive_train={"g": groups},
                     sensitive_eval={"g": groups}, columns=list("abc"), column_features=list("abc"),
                     categorical=np.zeros(3, dtype=bool))
    result = run_audit(model, data, SMALL)["metrics"]
    fair01 = result["FAIR-01"]
    per_class = [fair01["details"]["by_class"][c]["g"]["value"] for c in ("lo", "mid", "hi")]
    assert fair01["value"] == max(per_class) and fair01["details"]["worst_class"] in ("lo", "mid", "hi")
    assert all(e["status"] in ("pass", "warn", "fail", "not_applicable") for e in result.values())
