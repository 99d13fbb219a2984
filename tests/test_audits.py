"""Audit runs through the API and the command line: queued → running → succeeded, one result set."""

import json
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit import jobs
from audit.management.commands.train_baseline import train_and_register
from audit.models import AuditRun, MetricResult
from core.jobs import MAX_ATTEMPTS, reap_stale_jobs
from core.models import AuditLogEntry


@pytest.fixture
def trained_model(alice_dataset):
    return train_and_register(alice_dataset, architecture="mlp", args={"hidden": [8]}, epochs=2)


def _start(client, model, dataset, capture, config=None):
    with capture(execute=True):
        return client.post("/api/v1/audits", {"model_version": model.pk, "dataset_version": dataset.pk,
                                               "config": config or {"ig_rows": 50, "sensitivity_rows": 10}},
                           format="json")


def test_it_runs_an_audit_from_the_api_to_succeeded(as_dave, trained_model, alice_dataset,
                                                     django_capture_on_commit_callbacks):
    # when: an auditor starts an audit (the worker runs eagerly once the row is committed)
    r = _start(as_dave, trained_model, alice_dataset, django_capture_on_commit_callbacks)

    # then: it is accepted, and its row shows the finished run with six dimension scores
    assert r.status_code == 202, r.content
    run = as_dave.get(f"/api/v1/audits/{r.json()['id']}").json()
    assert run["status"] == "succeeded" and run["progress"] == 100 and run["device"] == "cpu"
    assert set(run["dimension_scores"]) == {"fairness", "explainability", "robustness", "privacy",
                                            "transparency", "data_governance"}
    results = as_dave.get(f"/api/v1/audits/{run['id']}/results").json()
    assert len(results["metrics"]) == 23
    assert results["dataset"]["sensitive_attributes"] == ["sex"]
    assert results["metrics"]["TRANS-02"]["status"] in ("pass", "warn")
    assert MetricResult.objects.filter(audit_run_id=run["id"]).count() == 23
    assert AuditLogEntry.objects.filter(action="audit.succeed", object_id=str(run["id"])).exists()


def test_it_never_duplicates_results_when_a_task_is_delivered_twice(alice, trained_model, alice_dataset):
    run = jobs.start_audit(user=alice, model_version=trained_model, dataset_version=alice_dataset,
                           config={"ig_rows": 20}, enqueue=False)
    jobs.execute_audit(run.pk)
    first = AuditRun.objects.get(pk=run.pk)
    jobs.execute_audit(run.pk)  # a redelivered message finds the row already claimed
    assert AuditRun.objects.get(pk=run.pk).finished == first.finished
    assert MetricResult.objects.filter(audit_run=run).count() == 23
    assert first.attempts == 1


def test_it_gives_identical_numbers_for_the_same_audit_twice(alice, trained_model, alice_dataset):
    values = []
    for _ in range(2):
        run = jobs.start_audit(user=alice, model_version=trained_model, dataset_version=alice_dataset,
                               config={"ig_rows": 20}, enqueue=False)
        jobs.execute_audit(run.pk)
        values.append({m: r["value"] for m, r in AuditRun.objects.get(pk=run.pk).result["metrics"].items()})
    assert values[0] == values[1]


@pytest.mark.parametrize("config, field", [
    ({"epsilon": -1}, "config"), ({"no_such_option": 1}, "config"), ({"ig_rows": 0}, "config"),
])
def test_it_refuses_a_nonsense_config(as_alice, trained_model, alice_dataset, config, field,
                                      django_capture_on_commit_callbacks):
    r = _start(as_alice, trained_model, alice_dataset, django_capture_on_commit_callbacks, config)
    assert r.status_code == 400
    assert field in r.json()["error"]["fields"]
    assert not AuditRun.objects.exists()


def test_it_forbids_a_viewer_and_hides_audits_from_outsiders(as_bob, as_charlie, alice, trained_model,
                                                              alice_dataset, django_capture_on_commit_callbacks):
    assert _start(as_bob, trained_model, alice_dataset, django_capture_on_commit_callbacks).status_code == 403
    run = jobs.start_audit(user=alice, model_version=trained_model, dataset_version=alice_dataset, enqueue=False)
    assert as_charlie.get(f"/api/v1/audits/{run.pk}").status_code == 404
    assert as_charlie.post(f"/api/v1/audits/{run.pk}/cancel").status_code == 404
    assert as_charlie.get("/api/v1/audits").json()["count"] == 0
    assert as_bob.get(f"/api/v1/audits/{run.pk}").status_code == 200


def test_it_cancels_a_queued_audit_and_refuses_to_cancel_a_finished_one(as_alice, alice, trained_model,
                                                                          alice_dataset):
    run = jobs.start_audit(user=alice, model_version=trained_model, dataset_version=alice_dataset, enqueue=False)
    assert as_alice.get(f"/api/v1/audits/{run.pk}/results").status_code == 409
    r = as_alice.post(f"/api/v1/audits/{run.pk}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    jobs.execute_audit(run.pk)  # a late message does nothing
    assert AuditRun.objects.get(pk=run.pk).status == "cancelled"
    assert as_alice.post(f"/api/v1/audits/{run.pk}/cancel").status_code == 409


def test_it_stops_a_running_audit_when_cancel_is_requested(alice, trained_model, alice_dataset):
    run = jobs.start_audit(user=alice, model_version=trained_model, dataset_version=alice_dataset, enqueue=False)
    AuditRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    jobs.execute_audit(run.pk)
    run.refresh_from_db()
    assert run.status == "cancelled" and not MetricResult.objects.filter(audit_run=run).exists()


def test_it_fails_readably_when_the_artifact_was_tampered_with(alice, trained_model, alice_dataset):
    from core.artifacts import artifact_path

    path = artifact_path(trained_model.artifact)
    blob = bytearray(path.read_bytes())
    blob[-5] ^= 0xFF
    path.write_bytes(bytes(blob))
    run = jobs.start_audit(user=alice, model_version=trained_model, dataset_version=alice_dataset, enqueue=False)
    jobs.execute_audit(run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "integrity" in run.error and "Traceback" not in run.error


def test_it_compares_two_audits(as_alice, alice, trained_model, alice_dataset):
    ids = []
    for seed in (0, 1):
        run = jobs.start_audit(user=alice, model_version=trained_model, dataset_version=alice_dataset,
                               config={"seed": seed, "ig_rows": 20}, enqueue=False)
        jobs.execute_audit(run.pk)
        ids.append(run.pk)
    r = as_alice.get(f"/api/v1/audits/compare?a={ids[0]}&b={ids[1]}")
    assert r.status_code == 200
    body = r.json()
    assert len(body["metrics"]) == 23
    assert body["metrics"]["FAIR-01"]["delta"] == 0  # fairness does not depend on the seed
    assert as_alice.get("/api/v1/audits/compare?a=x&b=1").status_code == 400


def test_it_compares_any_number_of_audits_through_the_api(as_alice, as_charlie, alice, trained_model, alice_dataset,
                                                          error_of):
    ids = []
    for seed in (0, 1, 2):
        run = jobs.start_audit(user=alice, model_version=trained_model, dataset_version=alice_dataset,
                               config={"seed": seed, "ig_rows": 20}, enqueue=False)
        jobs.execute_audit(run.pk)
        ids.append(run.pk)
    order = [ids[2], ids[0], ids[1]]
    r = as_alice.get("/api/v1/audits/compare?audits=" + ",".join(map(str, order)))
    assert r.status_code == 200, r.content
    body = r.json()
    assert [a["id"] for a in body["audits"]] == order  # in the order given
    runs = {pk: AuditRun.objects.get(pk=pk) for pk in ids}
    rob = body["metrics"]["ROB-01"]
    assert rob["values"] == [runs[pk].results.metric("ROB-01").value for pk in order]
    assert rob["delta"] == pytest.approx(rob["values"][-1] - rob["values"][0])
    assert body["metrics"]["FAIR-01"]["delta"] == 0
    assert len(body["dimensions"]["fairness"]) == 3
    # repeated parameters work too; one audit, thirteen, a bad id: 400 naming the parameter
    assert as_alice.get(f"/api/v1/audits/compare?audits={ids[0]}&audits={ids[1]}").status_code == 200
    for bad in (f"{ids[0]}", ",".join([str(ids[0])] * 13), f"{ids[0]},x"):
        answer = as_alice.get(f"/api/v1/audits/compare?audits={bad}")
        assert answer.status_code == 400, answer.content
        assert list(error_of(answer)["fields"]) == ["audits"]
    # another organisation's audits are not found
    assert as_charlie.get("/api/v1/audits/compare?audits=" + ",".join(map(str, ids))).status_code == 404


def test_it_runs_an_audit_from_the_command_line(trained_model, alice_dataset, tmp_path):
    out = tmp_path / "result.json"
    call_command("run_audit", "--model-version", str(trained_model.pk), "--dataset-version",
                 str(alice_dataset.pk), "--json", str(out), "--config", '{"ig_rows": 20}')
    result = json.loads(out.read_text())
    assert set(result) >= {"assay_version", "model", "dataset", "config", "metrics", "dimensions", "timings",
                           "device", "versions"}
    assert result["model"]["positive_class"] == "good" and len(result["metrics"]) == 23


def test_the_reaper_requeues_an_abandoned_audit_then_gives_up(alice, trained_model, alice_dataset):
    run = jobs.start_audit(user=alice, model_version=trained_model, dataset_version=alice_dataset, enqueue=False)
    old = timezone.now() - timedelta(hours=1)
    AuditRun.objects.filter(pk=run.pk).update(status="running", heartbeat=old, attempts=1)
    with mock.patch("assay.celery.app.send_task") as send:
        reap_stale_jobs()
    run.refresh_from_db()
    assert run.status == "queued"
    send.assert_called_once_with("assay.audit.execute", args=[run.pk], queue="cpu")

    AuditRun.objects.filter(pk=run.pk).update(status="running", heartbeat=old, attempts=MAX_ATTEMPTS)
    with mock.patch("assay.celery.app.send_task") as send:
        reap_stale_jobs()
    run.refresh_from_db()
    assert run.status == "failed" and "Abandoned" in run.error
    send.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_a_claimed_job_beats_from_a_thread_until_it_is_taken_over_or_returns(alice, trained_model, alice_dataset,
                                                                             settings, monkeypatch):
    from django.db.models import F

    from core import jobs as job_helpers

    # given: a worker process (heartbeat threads on) and a 1.5 s staleness window, so a beat every 0.5 s
    settings.ASSAY_JOB_STALE_SECONDS = 1.5
    monkeypatch.setattr(job_helpers, "HEARTBEAT_THREADS", True)
    run = jobs.start_audit(user=alice, model_version=trained_model, dataset_version=alice_dataset, enqueue=False)
    try:
        # when: it claims the job and then reports no progress for longer than the window
        assert job_helpers.claim(AuditRun, run.pk)
        claimed = AuditRun.objects.get(pk=run.pk).heartbeat
        time.sleep(2)

        # then: the job is not stale, and a second claim (a redelivered message) loses
        beat = AuditRun.objects.get(pk=run.pk).heartbeat
        assert beat > claimed and timezone.now() - beat < timedelta(seconds=1.5)
        assert not job_helpers.claim(AuditRun, run.pk)

        # and: once another attempt holds the row, this thread stops touching it
        AuditRun.objects.filter(pk=run.pk).update(attempts=F("attempts") + 1, heartbeat=claimed)
        time.sleep(1.2)
        assert AuditRun.objects.get(pk=run.pk).heartbeat == claimed
    finally:
        job_helpers.stop_heartbeats()
    assert not job_helpers._heartbeats


def test_no_heartbeat_thread_outside_worker_processes(alice, trained_model, alice_dataset):
    from core import jobs as job_helpers

    run = jobs.start_audit(user=alice, model_version=trained_model, dataset_version=alice_dataset, enqueue=False)
    assert job_helpers.claim(AuditRun, run.pk)
    assert not job_helpers._heartbeats
