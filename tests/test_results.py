"""The read model of audit results (audit/results.py): accessors over hand-built Result JSON."""

import pytest

from audit import jobs
from audit.choices import MetricStatus
from audit.metrics import catalog
from audit.models import AuditRun
from audit.results import SMALL_GROUP_ROWS, AuditResults, status_change
from reports import alerts
from reports import services as reports


def groups(**rates: tuple[float, int]) -> dict:
    return {g: {"n": n, "selection_rate": rate, "accuracy": 1 - rate} for g, (rate, n) in rates.items()}


BINARY = {"metrics": {
    "FAIR-01": {"value": 0.2, "status": "warn", "reason": None, "duration_s": 0.01, "details": {
        "min_group_size": 1, "worst_attribute": "sex",
        "by_attribute": {"sex": {"value": 0.2, "groups": groups(f=(0.3, 12), m=(0.5, 400)), "small_groups": ["f"]},
                         "age": {"value": None, "groups": {}, "note": "fewer than two groups"}}}},
    "FAIR-05": {"value": 0.1, "status": "pass", "reason": None, "details": {
        "by_attribute": {"sex": {"value": 0.1, "groups": groups(f=(0.2, 12), m=(0.3, 400))}}}},
    "PRIV-03": {"value": 0.02, "status": "pass", "reason": None,
                "details": {"train_accuracy": 0.86, "eval_accuracy": 0.84}},
    "EXPL-01": {"value": 1.0, "status": "pass", "reason": None, "details": {"importance": {"age": 0.4, "x": "?"}}},
    "TRANS-03": {"value": None, "status": "not_applicable", "reason": "no image"},
}}

MULTI = {"metrics": {
    "FAIR-01": {"value": 0.4, "status": "fail", "reason": None, "details": {
        "min_group_size": 1, "worst_class": "b", "worst_attribute": "sex", "by_class": {
            "a": {"sex": {"value": 0.1, "groups": groups(f=(0.2, 50), m=(0.3, 50))}},
            "b": {"sex": {"value": 0.4, "groups": groups(f=(0.1, 20), m=(0.5, 80))}},
        }}},
    "ROB-04": {"value": 0.9, "status": "pass", "reason": None, "details": {"clean_accuracy": 0.7}},
}}


def test_metric_views_are_typed_and_missing_metrics_are_none():
    results = AuditResults(BINARY)
    fair = results.metric("FAIR-01")
    assert (fair.id, fair.value, fair.status, fair.counted) == ("FAIR-01", 0.2, MetricStatus.WARN, True)
    assert results.metric("TRANS-03").counted is False and results.metric("TRANS-03").applicable is False
    assert results.metric("ROB-01") is None and results.value("ROB-01") is None
    assert results.metric("EXPL-01").importance == {"age": 0.4}
    assert results.failing() == [] and AuditResults(MULTI).failing() == ["FAIR-01"]
    assert not AuditResults(None) and AuditResults(None).metric("FAIR-01") is None
    assert AuditResults(None).group_table("FAIR-01") == {} and AuditResults(None).accuracy is None


def test_group_table_of_a_binary_audit_reads_by_attribute():
    tables = AuditRun(result=BINARY).group_table("FAIR-01")
    assert list(tables) == ["sex"]  # an attribute without groups has no table
    sex = tables["sex"]
    assert sex.cls is None and sex.value == 0.2 and sex.columns == ["n", "selection_rate", "accuracy"]
    assert sex.column("selection_rate") == {"f": 0.3, "m": 0.5} and sex.small == ["f"]
    # without the engine's list, the small groups come from the one cut-off
    assert AuditRun(result=BINARY).group_table("FAIR-05")["sex"].small == ["f"]
    assert 12 < SMALL_GROUP_ROWS <= 400 and SMALL_GROUP_ROWS == catalog.SMALL_GROUP_ROWS


def test_group_table_of_a_multi_class_audit_takes_the_worst_class_or_the_one_asked():
    run = AuditRun(result=MULTI)
    worst = run.group_table("FAIR-01")["sex"]
    assert worst.cls == "b" and worst.value == 0.4 and worst.column("selection_rate") == {"f": 0.1, "m": 0.5}
    assert run.group_table("FAIR-01", "a")["sex"].column("n") == {"f": 50, "m": 50}
    assert run.group_table("FAIR-01", "a")["sex"].cls == "a"
    assert run.group_table("FAIR-01", "nope") == {}
    assert run.metric("FAIR-01").classes == ["a", "b"] and run.metric("FAIR-01").worst_class == "b"
    undefined = {"metrics": {"FAIR-01": {"value": None, "status": "not_applicable", "reason": "x", "details": {
        "worst_class": None, "by_class": MULTI["metrics"]["FAIR-01"]["details"]["by_class"]}}}}
    assert AuditRun(result=undefined).group_table("FAIR-01")["sex"].cls == "a"  # no worst: the first class


def test_accuracy_is_the_recorded_evaluation_accuracy():
    assert AuditRun(result=BINARY).accuracy == 0.84  # PRIV-03's eval split
    assert AuditRun(result=MULTI).accuracy == 0.7  # else the robustness metrics' clean accuracy
    assert AuditRun(result={"metrics": {}}).accuracy is None and AuditRun().accuracy is None


def test_the_fairness_chart_is_drawn_for_multi_class_audits_too():
    assert reports.fairness_chart(AuditRun(result=BINARY)).startswith("<svg")
    chart = reports.fairness_chart(AuditRun(result=MULTI))
    assert chart.startswith("<svg") and "class b" in chart
    assert reports.fairness_chart(AuditRun(result={"metrics": {}})) == ""


def test_metric_status_values_are_the_engines():
    assert [s.value for s in MetricStatus] == [catalog.PASS, catalog.WARN, catalog.FAIL, catalog.NOT_APPLICABLE]


@pytest.mark.parametrize(("before", "after", "change"), [
    ("pass", "pass", "same"), ("pass", "warn", "worse"), ("warn", "fail", "worse"), ("fail", "pass", "better"),
    ("pass", "not_applicable", "changed"), ("not_applicable", "fail", "changed"), (None, "pass", "changed"),
    (None, None, "same"),
])
def test_one_status_comparison_for_alerts_and_audit_comparisons(before, after, change):
    assert status_change(before, after) == change
    assert alerts.status_change is status_change
    a = AuditRun(result={"metrics": {} if before is None else {"FAIR-01": {"value": 0.1, "status": before}}},
                 dimension_scores={})
    b = AuditRun(result={"metrics": {} if after is None else {"FAIR-01": {"value": 0.3, "status": after}}},
                 dimension_scores={})
    compared = jobs.compare(a, b)["metrics"]
    if before is None and after is None:
        assert compared == {}
    else:
        assert compared["FAIR-01"]["status_change"] == change
        moved = alerts.changes([{"id": "FAIR-01", "value": 0.1, "status": before}],
                               [{"id": "FAIR-01", "value": 0.3, "status": after}])
        assert moved[0]["status_change"] == change
