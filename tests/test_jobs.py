"""The one job runner (core.jobs): claim → load → compute → store → finish, one try/except for every kind."""

from unittest import mock

import pytest
from celery import current_app

from audit.models import AuditRun
from core import artifacts
from core.jobs import JOBS, JobCancelled, JobRunner, enqueue, run_job
from core.models import AuditLogEntry
from privacy.models import DPTrainingRun
from watermark.models import WatermarkBatch


class Recorder(JobRunner):
    """A test job over WatermarkBatch rows: no task_name, so it stays out of the registry (and the reaper)."""

    model = WatermarkBatch
    failure_action = "test.fail"
    label = "Test job"

    calls: list[str] = []

    def __init__(self, *, outcome):
        self.outcome = outcome

    def compute(self, row, progress, should_cancel):
        self.calls.append("compute")
        progress(40, "halfway")
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    def store(self, row, result):
        self.calls.append("store")
        if result == "store fails":
            raise RuntimeError("the disk is full")

    def finished(self, row):
        self.calls.append("finished")


@pytest.fixture
def batch(alice_org):
    artifact = artifacts.store(b"not a zip", organization=alice_org, filename="batch-input.zip")
    return WatermarkBatch.objects.create(organization=alice_org, input_artifact=artifact, total=1)


def _failures(row) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(object_type="WatermarkBatch", object_id=str(row.pk),
                                             action__endswith=".fail"))


def test_a_job_that_raises_is_failed_with_a_readable_error_and_one_log_entry(batch):
    # when: its compute step raises an exception with a multi-line message
    ran = run_job(Recorder, batch.pk, outcome=RuntimeError("the model fell over\nTraceback (most recent call last)"))

    # then: the row failed with the exception's first line, and the audit log has one entry by the worker
    batch.refresh_from_db()
    assert ran is True
    assert (batch.status, batch.error, batch.stage) == ("failed", "RuntimeError: the model fell over", "halfway")
    assert batch.finished is not None and batch.attempts == 1
    [entry] = _failures(batch)
    assert (entry.action, entry.actor_name, entry.payload) == ("test.fail", "worker",
                                                               {"error": "RuntimeError: the model fell over"})


def test_a_failed_job_is_not_run_again(batch):
    run_job(Recorder, batch.pk, outcome=ValueError("bad"))

    assert run_job(Recorder, batch.pk, outcome="result") is False  # a redelivered message: not claimed

    batch.refresh_from_db()
    assert batch.status == "failed" and len(_failures(batch)) == 1


def test_a_failing_store_fails_the_job_too(batch):
    ran = run_job(Recorder, batch.pk, outcome="store fails")

    batch.refresh_from_db()
    assert ran and (batch.status, batch.error) == ("failed", "RuntimeError: the disk is full")
    assert len(_failures(batch)) == 1


def test_a_cancelled_job_ends_cancelled_and_logs_no_failure(batch):
    run_job(Recorder, batch.pk, outcome=JobCancelled())

    batch.refresh_from_db()
    assert (batch.status, batch.stage, batch.error) == ("cancelled", "cancelled", "")
    assert _failures(batch) == []


def test_the_runner_calls_each_step_once_in_order(batch, monkeypatch):
    monkeypatch.setattr(Recorder, "calls", [])

    assert run_job(Recorder, batch.pk, outcome="result")

    assert Recorder.calls == ["compute", "store", "finished"]


def test_every_job_kind_is_registered_with_its_model_and_task_name():
    import audit.jobs  # noqa: F401
    import compliance.samples  # noqa: F401
    import genai.jobs  # noqa: F401
    import moderation.jobs  # noqa: F401
    import privacy.services  # noqa: F401
    import watermark.jobs  # noqa: F401
    from compliance.models import SampleJob
    from genai.models import Evaluation as GenaiEvaluation
    from moderation.models import ModerationClassifier

    assert {name: runner.model for name, runner in JOBS.items()} == {
        "assay.audit.execute": AuditRun, "assay.privacy.train_dp": DPTrainingRun,
        "assay.watermark.batch": WatermarkBatch, "assay.compliance.sample": SampleJob,
        "assay.genai.evaluate": GenaiEvaluation, "assay.moderation.train_classifier": ModerationClassifier,
    }


def test_enqueue_runs_the_task_named_once_the_transaction_commits(batch, django_capture_on_commit_callbacks):
    # given: eager Celery (the tests), where send_task would ignore eager mode
    with django_capture_on_commit_callbacks() as callbacks:
        enqueue("assay.watermark.batch", batch.pk, queue="cpu")
        assert WatermarkBatch.objects.get(pk=batch.pk).status == "queued"  # not before the commit

    # when: the transaction commits
    for callback in callbacks:
        callback()

    # then: the registered task ran the batch here (its input is no zip, so it failed, readably)
    batch.refresh_from_db()
    assert batch.status == "failed" and batch.error.startswith("WatermarkError: The batch is refused")
    assert [e.action for e in _failures(batch)] == ["watermark.batch.fail"]


def test_enqueue_sends_by_name_to_a_broker(batch, django_capture_on_commit_callbacks):
    current_app.conf.task_always_eager = False  # as in a web process
    try:
        with mock.patch.object(current_app, "send_task") as send, django_capture_on_commit_callbacks(execute=True):
            enqueue("assay.watermark.batch", batch.pk, queue="cpu")
    finally:
        current_app.conf.task_always_eager = True
    send.assert_called_once_with("assay.watermark.batch", args=[batch.pk], queue="cpu")
    assert WatermarkBatch.objects.get(pk=batch.pk).status == "queued"
