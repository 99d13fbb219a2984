"""A real Celery worker trains a moderation classifier from the broker (once, though the message comes
twice) and writes spooled decisions through the beat task."""

import os
import time
from pathlib import Path

import pytest

from accounts.models import Organization
from assay.celery import app
from core.choices import JobStatus
from moderation import jobs, services
from moderation.models import Decision, DecisionBatch, ModerationClassifier
from tests.workers import start_worker, stop_worker

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]


@pytest.fixture
def worker(settings):
    proc = start_worker("moderation")
    yield proc
    stop_worker(proc)


def _wait(predicate, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_a_worker_trains_a_classifier_once(worker):
    org = Organization.objects.create(name="Moderation Corp")
    data = (services.DEMO_DATA / "demo_labelled.csv").read_bytes()
    row = jobs.start_training(org, name="worker", data=data, filename="demo.csv", enqueue=False)
    for _ in range(2):  # as a redelivery would
        app.send_task("assay.moderation.train_classifier", args=[row.pk], queue="cpu")
    finished = _wait(lambda: ModerationClassifier.objects.get(pk=row.pk).status in ("succeeded", "failed"))
    row.refresh_from_db()
    if not finished or row.status != JobStatus.SUCCEEDED:
        pytest.fail(f"training {row.status}: {row.error}\n{stop_worker(worker)[-3000:]}")
    assert row.attempts == 1 and row.model_artifact_id and row.progress == 100
    assert "violence" in row.categories


def test_the_beat_task_writes_spooled_decisions(worker, settings):
    org = Organization.objects.create(name="Spool Corp")
    policy = services.default_policy(org)
    services.moderate(["build a bomb", "hello"], organization=org, policy=policy)
    spool = Path(settings.DATA_DIR) / "moderation-spool"
    for path in spool.glob(f"active-*-{os.getpid()}.jsonl"):  # handed over, as a full spool would be
        path.rename(path.with_name(f"ready-{time.time_ns()}-{os.getpid()}.jsonl"))
    app.send_task("assay.moderation.flush", queue="default")
    assert _wait(lambda: Decision.objects.filter(organization=org).count() == 2, timeout=120), \
        stop_worker(worker)[-3000:]
    assert DecisionBatch.objects.get(organization=org).count == 2
