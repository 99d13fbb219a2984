"""A worker process dies (SIGKILL) in the middle of an audit: another one finishes it, exactly once."""

import io
import os
import signal

import numpy as np
import pandas as pd
import pytest

from accounts.models import Organization
from assay.celery import app
from audit import jobs, services
from audit.datasets import Schema
from audit.management.commands.train_baseline import train_and_register
from audit.models import AISystem, AuditRun, MetricResult
from tests.workers import pool_children, start_worker, stop_worker, wait_for

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]
STALE_SECONDS = 3
# A heavy enough audit to be caught in the middle: many PGD steps over every evaluation row.
SLOW_CONFIG = {"pgd_steps": 400, "ig_rows": 2000, "ig_steps": 100, "sensitivity_rows": 200}


def _frame(n=6000, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    sex = rng.choice(["F", "M"], n)
    y = np.where(x[:, 0] + 0.5 * x[:, 1] + (sex == "M") * 0.4 + rng.normal(scale=0.5, size=n) > 0.2, "yes", "no")
    return pd.DataFrame({**{f"x{i}": x[:, i] for i in range(6)}, "sex": sex, "y": y})


@pytest.fixture
def slow_audit():
    org = Organization.objects.create(name="Faulty Corp")
    system = AISystem.objects.create(organization=org, name="Scorer")
    buffer = io.BytesIO()
    _frame().to_csv(buffer, index=False)
    dataset = services.register_dataset(user=None, system=system, name="synthetic", filename="s.csv",
                                        data=buffer.getvalue(),
                                        schema=Schema(target="y", positive_label="yes", sensitive_attributes=["sex"]))
    model = train_and_register(dataset, architecture="mlp", args={"hidden": [64, 64]}, epochs=2)
    return jobs.start_audit(user=None, model_version=model, dataset_version=dataset, config=SLOW_CONFIG,
                            enqueue=False)


def test_a_killed_worker_process_leaves_no_stuck_or_duplicated_audit(slow_audit):
    # given: two workers, one audit being computed
    workers = [start_worker(name, ASSAY_JOB_STALE_SECONDS=STALE_SECONDS) for name in ("a", "b")]
    try:
        app.send_task("assay.audit.execute", args=[slow_audit.pk], queue="cpu")
        wait_for(lambda: AuditRun.objects.filter(pk=slow_audit.pk, status="running", progress__gte=5).exists(),
                 timeout=120, message="audit running")

        # when: the processes that run tasks are killed with SIGKILL, mid-audit
        for worker in workers:
            for pid in pool_children(worker):
                os.kill(pid, signal.SIGKILL)

        # then: the job is taken over and finishes once, with exactly one result set
        run = wait_for(lambda: AuditRun.objects.filter(pk=slow_audit.pk, status__in=["succeeded", "failed"]).first(),
                       timeout=300, message="audit finished")
    finally:
        logs = [stop_worker(worker) for worker in workers]
    assert run.status == "succeeded", f"{run.error}\n{logs[0][-2000:]}\n{logs[1][-2000:]}"
    assert run.attempts >= 2
    assert MetricResult.objects.filter(audit_run=run).count() == 23
