"""Issue 13 at the Django level: organisation thresholds (API, page, runs, compare), early refusal of a
model that cannot read a dataset (audits, DP runs, schedules), the audit page's intervals, dropped rows,
baseline and trivial-model flag, and `audit_file`'s dropped rows and one-line failures."""

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_celery_beat.models import PeriodicTask

from audit import jobs, services
from audit.datasets import Schema
from audit.management.commands.train_baseline import train_and_register
from audit.metrics.catalog import CATALOG, status_for
from audit.models import AuditRun, ThresholdPolicy
from core.models import AuditLogEntry
from privacy.models import DPTrainingRun
from reports.models import Schedule

CONFIG = {"ig_rows": 100, "sensitivity_rows": 20, "surrogate_rows": 500, "mia_rows": 200, "poisoning_rows": 200,
          "n_boot": 50, "query_budget": 10}
OVERRIDES = {"FAIR-01": {"pass": 0.05, "warn": 0.1}, "EXPL-03": {"informational": True}}
FEATURES = ["age", "income", "housing"]


def _url(org) -> str:
    return f"/api/v1/organizations/{org.pk}/thresholds"


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _audit(user, model, dataset) -> AuditRun:
    """Start an audit and run it synchronously (as the worker would), returning the finished row."""
    run = jobs.start_audit(user=user, model_version=model, dataset_version=dataset, config=CONFIG, enqueue=False)
    jobs.execute_audit(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


@pytest.fixture
def trained_model(alice_dataset):
    return train_and_register(alice_dataset, architecture="mlp", args={"hidden": [8]}, epochs=2)


#
# 1. The thresholds API and page
#


class TestThresholdsAPI:
    def test_get_answers_the_catalog_by_default(self, as_bob, alice_org):
        r = as_bob.get(_url(alice_org))
        assert r.status_code == 200, r.content
        body = r.json()
        assert body["organization"] == alice_org.pk and body["overrides"] == {}
        assert set(body["thresholds"]) == set(CATALOG) and len(body["thresholds"]) == 23
        assert {t["source"] for t in body["thresholds"].values()} == {"catalog"}
        fair = body["thresholds"]["FAIR-01"]
        assert (fair["pass"], fair["warn"], fair["direction"]) == (CATALOG["FAIR-01"].pass_threshold,
                                                                    CATALOG["FAIR-01"].warn_threshold, "lower")

    @pytest.mark.parametrize("persona", ["alice", "erin"])
    def test_an_owner_or_admin_sets_them_and_restores_the_catalog(self, client_for, persona, alice_org):
        client = client_for(persona)
        r = client.put(_url(alice_org), OVERRIDES, format="json")
        assert r.status_code == 200, r.content
        assert r.json()["overrides"] == OVERRIDES

        body = client_for("bob").get(_url(alice_org)).json()
        assert body["overrides"] == OVERRIDES
        fair, expl = body["thresholds"]["FAIR-01"], body["thresholds"]["EXPL-03"]
        assert (fair["pass"], fair["warn"], fair["source"]) == (0.05, 0.1, "organisation")
        assert expl["informational"] is True and expl["source"] == "organisation"
        assert (expl["pass"], expl["warn"]) == (CATALOG["EXPL-03"].pass_threshold, CATALOG["EXPL-03"].warn_threshold)
        assert body["thresholds"]["FAIR-02"]["source"] == "catalog"
        assert "informational" not in body["thresholds"]["FAIR-02"]

        # when: the overrides are emptied
        r = client.put(_url(alice_org), {}, format="json")

        # then: the catalog applies again
        assert r.status_code == 200 and r.json()["overrides"] == {}
        body = client.get(_url(alice_org)).json()
        assert body["overrides"] == {} and {t["source"] for t in body["thresholds"].values()} == {"catalog"}

    def test_each_change_is_audit_logged_with_a_diff(self, as_alice, alice, alice_org):
        assert as_alice.put(_url(alice_org), OVERRIDES, format="json").status_code == 200
        assert as_alice.put(_url(alice_org), {"FAIR-01": {"pass": 0.07, "warn": 0.1}}, format="json").status_code == 200
        entries = list(AuditLogEntry.objects.filter(action="thresholds.update").order_by("seq"))
        assert len(entries) == 2
        assert all(e.actor_name == "alice" and e.organization_id == alice_org.pk for e in entries)
        assert entries[0].payload["changes"] == {
            "FAIR-01": {"before": None, "after": {"pass": 0.05, "warn": 0.1}},
            "EXPL-03": {"before": None, "after": {"informational": True}},
        }
        assert entries[1].payload["changes"] == {
            "FAIR-01": {"before": {"pass": 0.05, "warn": 0.1}, "after": {"pass": 0.07, "warn": 0.1}},
            "EXPL-03": {"before": {"informational": True}, "after": None},
        }

    @pytest.mark.parametrize("persona, expected", [("dave", 403), ("bob", 403), ("charlie", 404)])
    def test_others_may_not_change_them(self, client_for, persona, expected, alice_org, error_of):
        r = client_for(persona).put(_url(alice_org), OVERRIDES, format="json")
        assert r.status_code == expected, r.content
        error_of(r)
        assert not ThresholdPolicy.objects.exists()
        assert not AuditLogEntry.objects.filter(action="thresholds.update").exists()

    def test_an_outsider_cannot_read_them(self, as_charlie, alice_org):
        assert as_charlie.get(_url(alice_org)).status_code == 404

    @pytest.mark.parametrize("body, named", [
        ({"FAIR-99": {"pass": 0.1, "warn": 0.2}}, "FAIR-99"),
        ({"FAIR-01": {"pass": "low", "warn": 0.2}}, "FAIR-01"),
        ({"FAIR-01": {"pass": True, "warn": 0.2}}, "FAIR-01"),
        ({"FAIR-01": {"pass": 0.1, "warn": 0.2, "fail": 0.3}}, "FAIR-01"),
        ({"FAIR-02": {"pass": 0.5, "warn": 0.9}}, "FAIR-02"),  # higher is better: warn above pass
        ({"FAIR-01": {"pass": 0.3, "warn": 0.1}}, "FAIR-01"),  # lower is better: warn below pass
        ({"EXPL-03": {"informational": "yes"}}, "EXPL-03"),
        ({"DATA-03": 0.02}, "DATA-03"),
    ])
    def test_it_refuses_a_bad_override_naming_the_metric(self, as_alice, alice_org, body, named, error_of):
        # given: overrides in force
        assert as_alice.put(_url(alice_org), OVERRIDES, format="json").status_code == 200

        r = as_alice.put(_url(alice_org), body, format="json")
        assert r.status_code == 400, r.content
        assert named in error_of(r)["message"]
        assert as_alice.get(_url(alice_org)).json()["overrides"] == OVERRIDES  # nothing changed
        assert AuditLogEntry.objects.filter(action="thresholds.update").count() == 1

    @pytest.mark.parametrize("raw", ['{"FAIR-01": {"pass": NaN, "warn": 0.2}}', '[{"FAIR-01": {"pass": 0.1}}]',
                                     '{"FAIR-01": {"pass": 1e999}}', "not json"])
    def test_it_refuses_bodies_that_are_no_object_of_numbers(self, as_alice, alice_org, raw, error_of):
        r = as_alice.generic("PUT", _url(alice_org), raw, content_type="application/json")
        assert r.status_code == 400, r.content
        error_of(r)
        assert not ThresholdPolicy.objects.exists()

    @pytest.mark.parametrize("value", [float("nan"), float("inf")])
    def test_the_service_refuses_a_non_finite_threshold_naming_the_metric(self, alice, alice_org, value):
        from core.errors import AssayError

        with pytest.raises(AssayError, match="FAIR-01"):
            services.set_thresholds(alice_org, user=alice, overrides={"FAIR-01": {"pass": value, "warn": 0.2}})
        with pytest.raises(AssayError, match="Thresholds must be an object"):
            services.set_thresholds(alice_org, user=alice, overrides=[{"FAIR-01": {"pass": 0.1}}])
        assert services.thresholds_of(alice_org) == {}

    def test_it_also_takes_the_shape_get_answers(self, as_alice, alice_org):
        r = as_alice.put(_url(alice_org), {"overrides": OVERRIDES}, format="json")
        assert r.status_code == 200 and r.json()["overrides"] == OVERRIDES


class TestThresholdsPage:
    def test_an_owner_saves_the_form(self, alice, alice_org):
        web = _web(alice)
        assert web.get("/thresholds/").status_code == 200
        r = web.post("/thresholds/", {"FAIR-01-pass": "0.05", "FAIR-01-warn": "0.1", "EXPL-03-informational": "1",
                                      "FAIR-02-pass": ""})
        assert r.status_code == 302 and r["Location"] == "/thresholds/"
        assert services.thresholds_of(alice_org) == OVERRIDES
        html = web.get("/thresholds/").content.decode()
        assert 'name="FAIR-01-pass" value="0.05"' in html and 'name="FAIR-01-warn" value="0.1"' in html
        assert "Save thresholds" in html
        assert AuditLogEntry.objects.filter(action="thresholds.update").count() == 1

    def test_a_viewer_reads_it_but_cannot_change_it(self, alice, bob, alice_org):
        services.set_thresholds(alice_org, user=alice, overrides=OVERRIDES)
        web = _web(bob)
        r = web.get("/thresholds/")
        html = r.content.decode()
        assert r.status_code == 200
        assert "Only owners and admins can change them" in html and "Save thresholds" not in html
        assert 'name="FAIR-01-pass" value="0.05" aria-label="FAIR-01 pass" disabled' in html
        assert web.post("/thresholds/", {"FAIR-01-pass": "0.2", "FAIR-01-warn": "0.3"}).status_code == 403
        assert services.thresholds_of(alice_org) == OVERRIDES

    @pytest.mark.parametrize("form, said", [
        ({"FAIR-01-pass": "abc", "FAIR-01-warn": "0.1"}, "FAIR-01: pass must be a number"),
        ({"FAIR-02-pass": "0.5", "FAIR-02-warn": "0.9"}, "FAIR-02"),
        ({"FAIR-01-pass": "nan", "FAIR-01-warn": "0.1"}, "FAIR-01"),
    ])
    def test_a_bad_value_is_shown_with_what_was_typed(self, erin, alice_org, form, said):
        web = _web(erin)
        r = web.post("/thresholds/", {**form, "EXPL-03-informational": "1"})
        html = r.content.decode()
        assert r.status_code == 400
        assert said in html
        for key, value in form.items():
            assert f'name="{key}" value="{value}"' in html
        assert 'aria-label="EXPL-03 informational" checked' in html
        assert services.thresholds_of(alice_org) == {}


#
# 2. Runs apply and record the thresholds; compare says when they differ
#


def test_a_run_applies_and_records_the_organisation_thresholds(as_alice, alice, alice_org, trained_model,
                                                               alice_dataset):
    # given: one run on the catalog's thresholds, then overrides
    before = _audit(alice, trained_model, alice_dataset)
    assert before.result["thresholds"]["FAIR-01"]["source"] == "catalog"
    assert "informational" not in before.result["dimensions"]["explainability"]
    assert as_alice.put(_url(alice_org), OVERRIDES, format="json").status_code == 200

    # when
    after = _audit(alice, trained_model, alice_dataset)

    # then: the run recorded what it applied
    used = after.result["thresholds"]
    assert (used["FAIR-01"]["pass"], used["FAIR-01"]["warn"], used["FAIR-01"]["source"]) == (0.05, 0.1, "organisation")
    assert used["EXPL-03"]["informational"] is True and used["EXPL-03"]["source"] == "organisation"
    assert used["FAIR-02"]["source"] == "catalog" and len(used) == 23

    # and: FAIR-01's status follows the new thresholds, EXPL-03 is computed but left out of its dimension
    fair = after.result["metrics"]["FAIR-01"]
    assert fair["value"] == before.result["metrics"]["FAIR-01"]["value"]
    assert fair["status"] == status_for("FAIR-01", fair["value"], {"pass": 0.05, "warn": 0.1})
    expl = after.result["dimensions"]["explainability"]
    assert expl["informational"] == ["EXPL-03"]
    assert after.result["metrics"]["EXPL-03"]["informational"] is True
    assert after.result["metrics"]["EXPL-03"]["status"] in ("pass", "warn", "fail")
    points = {"pass": 1.0, "warn": 0.5, "fail": 0.0}
    counted = [points[after.result["metrics"][m]["status"]] for m in expl["metrics"]
               if m != "EXPL-03" and after.result["metrics"][m]["status"] in points]
    assert expl["score"] == pytest.approx(sum(counted) / len(counted))
    assert after.dimension_scores["explainability"] == pytest.approx(expl["score"])

    # and: compare names the metrics whose thresholds differ, and the page says so
    differ = jobs.compare(before, after)["thresholds_differ"]
    assert {d["metric"] for d in differ} == {"FAIR-01", "EXPL-03"}
    assert all(d["note"] is None for d in differ)
    api = as_alice.get(f"/api/v1/audits/compare?a={before.pk}&b={after.pk}").json()
    assert {d["metric"] for d in api["thresholds_differ"]} == {"FAIR-01", "EXPL-03"}
    html = _web(alice).get(f"/audits/compare/?a={before.pk}&b={after.pk}").content.decode()
    assert 'id="thresholds-differ"' in html
    notice = html.split('id="thresholds-differ"')[1].split("</div>")[0]
    assert "EXPL-03" in notice and "FAIR-01" in notice
    assert jobs.compare(before, before)["thresholds_differ"] == []
    assert 'id="thresholds-differ"' not in _web(alice).get(
        f"/audits/compare/?a={before.pk}&b={before.pk}").content.decode()

    # and: the audit page shows the thresholds applied
    page = _web(alice).get(f"/audits/{after.pk}/").content.decode()
    assert "Organisation thresholds applied to EXPL-03, FAIR-01" in page
    assert "pass ≤ 0.05, warn ≤ 0.1 (organisation)" in page

    # and: the audit page of the first run shows the 95 % intervals, the rows used and the baseline
    base = before.result["baseline"]
    assert set(base) >= {"accuracy", "majority_class", "majority_accuracy", "trivial_model"}
    assert before.result["trivial_model"] is base["trivial_model"]
    assert before.result["dataset"]["rows_dropped"]["count"] == 0
    assert before.result["samples"] and before.result["samples"] == after.result["samples"]  # replayable draws
    assert all(set(v) >= {"seed", "size", "sha256"} for v in before.result["samples"].values())
    for mid in ("FAIR-01", "FAIR-02", "FAIR-03", "FAIR-04", "FAIR-05", "FAIR-06", "PRIV-01", "ROB-01", "ROB-02",
                "ROB-03", "ROB-04"):
        entry = before.result["metrics"][mid]
        if entry["status"] != "not_applicable":
            low, high = entry["details"]["ci95"]
            assert low <= high and entry["details"]["n_boot"] == CONFIG["n_boot"], mid

    html = _web(alice).get(f"/audits/{before.pk}/").content.decode()
    assert "<th>95 % interval</th>" in html
    ci = before.result["metrics"]["FAIR-01"]["details"]["ci95"]
    assert f"{ci[0]:.3f} – {ci[1]:.3f}" in html
    assert 'id="rows-dropped"' in html and "Every row of the dataset was used" in html
    assert "Evaluation accuracy" in html and f"{base['accuracy']:.4f}" in html
    assert 'id="trivial-model"' not in html or base["trivial_model"]
    metric = _web(alice).get(f"/audits/{before.pk}/metrics/FAIR-01/").content.decode()
    assert 'id="ci95"' in metric and f"{ci[0]:.4f} – {ci[1]:.4f}" in metric


#
# 3. Early refusal: the model cannot read the dataset
#


def _other_dataset(alice, system, frame: pd.DataFrame, **schema):
    fields = {"target": "label", "positive_label": "good", "sensitive_attributes": ["sex"], "split_column": "split"}
    fields.update(schema)
    return services.register_dataset(user=alice, system=system, name="other", filename="other.csv",
                                     data=services.to_csv_bytes(frame), schema=Schema(**fields))


def _no_housing(frame):
    return frame.drop(columns=["housing"]), {}, "housing"


def _unknown_target(frame):
    frame = frame.copy()
    frame.loc[frame.index[:5], "label"] = "maybe"
    return frame, {}, "maybe"


def _other_positive(frame):
    frame = frame.copy()
    frame["label"] = frame["label"].map({"good": "yes", "bad": "no"})
    return frame, {"positive_label": "yes"}, "'yes'"


@pytest.fixture(params=[_no_housing, _unknown_target, _other_positive], ids=["missing-column", "unknown-target",
                                                                             "positive-label"])
def unreadable(request, alice, alice_system, frame):
    """A dataset version of the model's system that the model cannot read, and the word its refusal names."""
    data, schema, named = request.param(frame)
    return _other_dataset(alice, alice_system, data, **schema), named


@pytest.fixture
def refusal_baseline():
    """Return a check that nothing was written since the fixture ran (no run, schedule, beat entry or log entry)."""

    def snapshot():
        return (AuditRun.objects.count(), DPTrainingRun.objects.count(), Schedule.objects.count(),
                PeriodicTask.objects.filter(task="assay.reports.fire_schedule").count(),
                AuditLogEntry.objects.count())

    first = []
    return lambda: first.append(snapshot()) if not first else snapshot() == first[0]


def test_an_audit_of_an_unreadable_dataset_is_refused_at_once(as_alice, alice_model, unreadable, error_of,
                                                              refusal_baseline, django_capture_on_commit_callbacks):
    dataset, named = unreadable
    refusal_baseline()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        r = as_alice.post("/api/v1/audits", {"model_version": alice_model.pk, "dataset_version": dataset.pk,
                                             "config": CONFIG}, format="json")
    assert r.status_code == 400, r.content
    assert named in error_of(r)["message"]
    assert refusal_baseline() and not callbacks and not AuditRun.objects.exists()


def test_a_dp_run_on_an_unreadable_dataset_is_refused_at_once(as_alice, alice_model, unreadable, error_of,
                                                              refusal_baseline, django_capture_on_commit_callbacks):
    dataset, named = unreadable
    refusal_baseline()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        r = as_alice.post("/api/v1/dp-trainings", {"model_version": alice_model.pk, "dataset_version": dataset.pk,
                                                   "epochs": 1, "batch_size": 16, "epsilon": 1.0}, format="json")
    assert r.status_code == 400, r.content
    assert named in error_of(r)["message"]
    assert refusal_baseline() and not callbacks and not DPTrainingRun.objects.exists()
    assert not AuditRun.objects.exists()  # nor its reference audit


@pytest.mark.parametrize("current", [False, True], ids=["named-model", "current-model"])
def test_a_schedule_on_an_unreadable_dataset_is_refused_at_once(as_alice, alice_system, alice_model, unreadable,
                                                                current, error_of, refusal_baseline):
    dataset, named = unreadable
    alice_system.current_model = alice_model
    alice_system.save()
    refusal_baseline()
    body = {"name": "nightly", "system": alice_system.pk, "dataset_version": dataset.pk, "cron": "0 2 * * *",
            "recipients": ["cco@example.org"], "config": {"ig_rows": 20}}
    if not current:
        body["model_version"] = alice_model.pk
    r = as_alice.post("/api/v1/schedules", body, format="json")
    assert r.status_code == 400, r.content
    assert named in error_of(r)["message"]
    assert refusal_baseline() and not Schedule.objects.exists()


def test_a_torch_export_model_given_another_number_of_inputs_is_refused(as_alice, alice, alice_system, alice_model,
                                                                         frame, error_of):
    # given: a program over two named inputs, and a dataset version that declares three
    from audit.models import ModelVersion

    program = ModelVersion.objects.create(
        organization=alice_system.organization, system=alice_system, name="program", version=1,
        artifact=alice_model.artifact, created_by=alice, format="torch-export", classes=["bad", "good"],
        features=["age", "income"], validated_on=alice_model.validated_on)
    three = _other_dataset(alice, alice_system, frame, features=FEATURES)

    # when
    r = as_alice.post("/api/v1/audits", {"model_version": program.pk, "dataset_version": three.pk,
                                         "config": CONFIG}, format="json")

    # then
    assert r.status_code == 400, r.content
    message = error_of(r)["message"]
    assert "takes 2 inputs" in message and "declares 3" in message
    assert not AuditRun.objects.exists()


def test_a_readable_dataset_still_passes_the_contract(as_alice, alice_system, alice_model, alice_dataset, frame,
                                                      alice, django_capture_on_commit_callbacks):
    # given: another version with an extra column and the same labels
    extra = _other_dataset(alice, alice_system, frame.assign(extra=1.0))
    services.check_contract(alice_model, extra)

    # then: the same three requests are accepted (queued, not run)
    with django_capture_on_commit_callbacks(execute=False):
        audit = as_alice.post("/api/v1/audits", {"model_version": alice_model.pk, "dataset_version": extra.pk,
                                                 "config": CONFIG}, format="json")
        dp = as_alice.post("/api/v1/dp-trainings", {"model_version": alice_model.pk, "dataset_version": extra.pk,
                                                    "epochs": 1, "batch_size": 16, "epsilon": 1.0}, format="json")
        schedule = as_alice.post("/api/v1/schedules", {
            "name": "nightly", "system": alice_system.pk, "model_version": alice_model.pk,
            "dataset_version": extra.pk, "cron": "0 2 * * *", "recipients": ["cco@example.org"]}, format="json")
    assert audit.status_code == 202, audit.content
    assert dp.status_code == 202, dp.content
    assert schedule.status_code == 201, schedule.content


#
# 4. The trivial-model flag (the page's intervals, rows and baseline are checked with the run above)
#


def _skops(pipeline) -> bytes:
    import skops.io as sio

    return sio.dumps(pipeline)


def _dummy_pipeline(train: pd.DataFrame):
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    pipeline = make_pipeline(
        ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["housing"])], remainder="passthrough"),
        DummyClassifier(strategy="most_frequent"),
    )
    return pipeline.fit(train[FEATURES], train["label"])


def test_a_trivial_model_is_flagged_in_the_result_and_on_the_page(as_alice, alice, alice_system, alice_dataset,
                                                                  frame, helpers):
    # given: a pipeline that predicts the majority class for everyone, uploaded through the API, and a dataset
    # version with one blank cell in its split column
    train = frame[frame.split == "train"]
    blank = frame.astype({"split": object})
    blank.loc[blank.index[3], "split"] = ""
    dataset = _other_dataset(alice, alice_system, blank)
    form = {"system": alice_system.pk, "name": "majority", "format": "sklearn", "dataset_version": dataset.pk,
            "file": helpers.upload_file(_skops(_dummy_pipeline(train)), "majority.skops")}
    r = as_alice.post("/api/v1/models", form, format="multipart")
    assert r.status_code == 201, r.content
    from audit.models import ModelVersion

    model = ModelVersion.objects.get(pk=r.json()["id"])

    # when
    run = _audit(alice, model, dataset)

    # then
    base = run.result["baseline"]
    assert run.result["trivial_model"] is True and base["trivial_model"] is True
    assert base["accuracy"] == pytest.approx(base["majority_accuracy"])
    assert base["majority_class"] == train["label"].mode()[0] and base["predicted_classes"] == 1
    html = _web(alice).get(f"/audits/{run.pk}/").content.decode()
    assert 'id="trivial-model"' in html and "Trivial model." in html
    assert run.result["dataset"]["rows_dropped"] == {"count": 1, "train": 0, "eval": 0,
                                                     "reasons": {"blank split cell (split)": 1}}
    line = html.split('id="rows-dropped"')[1].split("</p>")[0]
    assert "1 row could not be used" in line and "1 — blank split cell (split)" in line


#
# 5. audit_file: dropped rows and one-line failures
#


def _credit(n=400, seed=3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(40, 10, n)
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6])
    return pd.DataFrame({
        "age": rng.integers(18, 80, n).astype(float), "income": income.round(2),
        "housing": rng.choice(["own", "rent"], n), "sex": sex,
        "label": np.where(income + (sex == "M") * 4 + rng.normal(0, 4, n) > 42, "good", "bad"),
        "split": np.where(np.arange(n) < 0.7 * n, "train", "test"),
    })


def _with_missing(frame: pd.DataFrame, every: int = 7) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[frame.index[::every], "income"] = np.nan
    return frame


def _fit(frame: pd.DataFrame, *, imputer: bool):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = frame[frame.split == "train"]
    if imputer:
        pipeline = make_pipeline(
            ColumnTransformer([("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
                               ("cat", OneHotEncoder(handle_unknown="ignore"), ["housing"])]),
            LogisticRegression(max_iter=500),
        )
        return pipeline.fit(train[FEATURES], train["label"]), FEATURES
    complete = train.dropna(subset=["age", "income"])
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    return pipeline.fit(complete[["age", "income"]], complete["label"]), ["age", "income"]


def _audit_file(tmp_path: Path, frame: pd.DataFrame, model: bytes, fmt: str, features: list[str], name: str) -> dict:
    data, path, out = tmp_path / f"{name}.csv", tmp_path / f"{name}.model", tmp_path / f"{name}.json"
    frame.to_csv(data, index=False)
    path.write_bytes(model)
    call_command("audit_file", "--data", str(data), "--target", "label", "--positive-label", "good",
                 "--sensitive", "sex", "--model", str(path), "--format", fmt, "--split-column", "split",
                 "--features", *features, "--json", str(out), "--config", json.dumps(CONFIG),
                 stdout=io.StringIO())
    return json.loads(out.read_text())


def test_audit_file_keeps_rows_an_imputing_pipeline_accepts_and_counts_a_blank_split_cell(db, tmp_path):
    # given: missing incomes (every 7th row) that the pipeline imputes, and one training row without a split
    frame = _with_missing(_credit())
    pipeline, features = _fit(frame, imputer=True)
    frame["split"] = frame["split"].astype(object)
    frame.loc[frame.index[5], "split"] = ""

    # when
    result = _audit_file(tmp_path, frame, _skops(pipeline), "sklearn", features, "imputer")

    # then: every row with a missing value is evaluated; only the row that cannot be placed is dropped, and said
    assert result["dataset"]["rows_dropped"] == {"count": 1, "train": 0, "eval": 0,
                                                 "reasons": {"blank split cell (split)": 1}}
    assert result["dataset"]["rows_eval"] == int((frame.split == "test").sum()) == 120
    assert result["dataset"]["rows_train"] == 279
    assert result["metrics"]["FAIR-01"]["details"]["rows_dropped"] == {
        "count": 1, "reasons": {"blank split cell (split)": 1}}


def test_audit_file_drops_rows_a_pipeline_without_imputer_refuses_and_says_why(db, tmp_path):
    frame = _with_missing(_credit())
    pipeline, features = _fit(frame, imputer=False)
    result = _audit_file(tmp_path, frame, _skops(pipeline), "sklearn", features, "plain")
    missing = frame["income"].isna()
    dropped = result["dataset"]["rows_dropped"]
    assert dropped["count"] == int(missing.sum())
    assert dropped["train"] == int((missing & (frame.split == "train")).sum())
    assert dropped["eval"] == int((missing & (frame.split == "test")).sum())
    [(reason, count)] = dropped["reasons"].items()
    assert "missing income" in reason and "does not accept" in reason and count == dropped["count"]
    assert result["dataset"]["rows_eval"] == 120 - dropped["eval"]
    assert result["dataset"]["rows_train"] == 280 - dropped["train"]
    assert result["metrics"]["FAIR-01"]["details"]["rows_dropped"]["count"] == dropped["count"]


def test_audit_file_fails_in_one_line_when_a_torch_export_model_lacks_an_input(db, tmp_path, capfd):
    from audit.modelio.encoder import EncoderSpec
    from audit.modelio.training import export_torch, train_zoo_model

    frame = _credit()
    train = frame[frame.split == "train"]
    module, config = train_zoo_model(train, features=FEATURES, target="label", positive_label="good",
                                     args={"hidden": [8]}, epochs=2)
    encoder = EncoderSpec.from_json(config["encoder"])
    encoded = pd.DataFrame(encoder.transform(frame), columns=[f"c{i}" for i in range(len(encoder.columns))])
    pt2 = export_torch(module, torch.from_numpy(encoder.transform(train.head(4))))
    short = pd.concat([encoded.iloc[:, :-1], frame[["sex", "label", "split"]]], axis=1)
    with pytest.raises(CommandError) as caught:
        _audit_file(tmp_path, short, pt2, "torch-export", list(short.columns[:-3]), "short")
    message = str(caught.value)
    assert message and "\n" not in message.strip() and "Traceback" not in message
    assert re.search(r"\b4\b", message) and re.search(r"\b3\b", message), message  # expected 4 inputs, got 3
    assert "Traceback" not in capfd.readouterr().err  # nor from the sandboxed process
    assert not (tmp_path / "short.json").exists()
