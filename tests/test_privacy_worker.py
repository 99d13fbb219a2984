"""A real Celery worker trains a DP variant from the broker, registers it and audits it.

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
from audit import services
from audit.datasets import Schema
from audit.management.commands.train_baseline import train_and_register
from audit.models import AISystem, AuditRun
from privacy import dp
from privacy import services as dp_services
from privacy.models import DPTrainingRun
from tests.workers import start_worker, stop_worker

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]


@pytest.fixture
def parent():
    org = Organization.objects.create(name="Worker Corp")
    system = AISystem.objects.create(organization=org, name="Scorer")
    rng = np.random.default_rng(0)
    n = 500
    sex = rng.choice(["F", "M"], n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = np.where(x1 + 0.5 * x2 + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
    buffer = io.BytesIO()
    pd.DataFrame({"x1": x1, "x2": x2, "sex": sex, "y": y}).to_csv(buffer, index=False)
    dataset = services.register_dataset(user=None, system=system, name="synthetic", filename="s.csv",
                                        data=buffer.getvalue(),
                                        schema=Schema(target="y", positive_label="yes", sensitive_attributes=["sex"]))
    return train_and_register(dataset, architecture="mlp", args={"hidden": [8]}, epochs=3), dataset


def _wait_for(model, pk: int, timeout: float = 240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = model.objects.get(pk=pk)
        if row.status in ("succeeded", "failed", "cancelled"):
            return row
        time.sleep(0.5)
    raise AssertionError(f"{model.__name__} {pk} still {row.status} after {timeout} s")


def test_a_worker_trains_registers_and_audits_a_dp_variant_once(parent):
    # given: a queued run, its message sent twice (as a redelivery would)
    model, dataset = parent
    run = dp_services.start_dp_training(user=None, model_version=model, dataset_version=dataset,
                                        params=dp.DPParams(epsilon=2.0, epochs=2, batch_size=64), enqueue=False,
                                        reference_audit=False)
    worker = start_worker("dp")
    try:
        for _ in range(2):
            app.send_task("assay.privacy.train_dp", args=[run.pk], queue="cpu")

        # when: the worker trains it, registers the variant and queues its audit, which it runs too
        run = _wait_for(DPTrainingRun, run.pk)
        assert run.status == "succeeded", run.error
        audit = _wait_for(AuditRun, run.audit_id)
    finally:
        output = stop_worker(worker)

    # then: one variant, trained once, audited with PRIV-02 = the ε spent
    assert run.attempts == 1 and run.device == "cpu", output[-3000:]
    assert DPTrainingRun.objects.get(pk=run.pk).result_model.parent_id == model.pk
    assert audit.status == "succeeded", audit.error
    assert audit.result["metrics"]["PRIV-02"]["value"] == pytest.approx(run.result["epsilon"])
