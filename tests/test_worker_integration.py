"""A real Celery worker process takes an audit from the broker and stores one result set.

Runs against whatever the environment configures: SQLite + the filesystem broker by default,
PostgreSQL + Redis in CI (DATABASE_URL, CELERY_BROKER_URL).
"""

import io
import time

import numpy as np
import pandas as pd
import pytest

from accounts.models import Organization
from assay.celery import app
from audit import jobs, services
from audit.datasets import Schema
from audit.models import AISystem, AuditRun, MetricResult
from tests.workers import start_worker, stop_worker

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]


def _frame(n=600, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = np.where(x1 + 0.5 * x2 + (sex == "M") * 0.5 + rng.normal(scale=0.5, size=n) > 0.3, "yes", "no")
    return pd.DataFrame({"x1": x1, "x2": x2, "colour": rng.choice(["red", "blue"], n), "sex": sex, "y": y})


@pytest.fixture
def registered_model(settings):
    from audit.management.commands.train_baseline import train_and_register

    org = Organization.objects.create(name="Worker Corp")
    system = AISystem.objects.create(organization=org, name="Scorer")
    buffer = io.BytesIO()
    _frame().to_csv(buffer, index=False)
    dataset = services.register_dataset(user=None, system=system, name="synthetic", filename="s.csv",
                                        data=buffer.getvalue(),
                                        schema=Schema(target="y", positive_label="yes", sensitive_attributes=["sex"]))
    model = train_and_register(dataset, architecture="mlp", args={"hidden": [8]}, epochs=3)
    return model, dataset


@pytest.fixture
def worker(registered_model):
    proc = start_worker("test")
    yield proc
    stop_worker(proc)


def _wait_for(run_id: int, timeout: float = 180) -> AuditRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = AuditRun.objects.get(pk=run_id)
        if run.status in ("succeeded", "failed", "cancelled"):
            return run
        time.sleep(0.5)
    raise AssertionError(f"audit {run_id} still {run.status} after {timeout} s")


def test_it_runs_an_audit_on_a_real_worker_once(registered_model, worker):
    # given: a queued audit, its message sent twice (as a redelivery would)
    model, dataset = registered_model
    run = jobs.start_audit(user=None, model_version=model, dataset_version=dataset, enqueue=False)
    for _ in range(2):
        app.send_task("assay.audit.execute", args=[run.pk], queue="cpu")

    # when: the worker process takes them
    run = _wait_for(run.pk)

    # then: one succeeded run, exactly one set of 23 metric results, progress complete
    if run.status != "succeeded":
        pytest.fail(f"audit {run.status}: {run.error}\n{stop_worker(worker)[-3000:]}")
    assert run.progress == 100 and run.attempts == 1 and run.device == "cpu"
    assert MetricResult.objects.filter(audit_run=run).count() == 23
    assert set(run.result["metrics"]) == set(MetricResult.objects.filter(audit_run=run).values_list("metric_id", flat=True))
