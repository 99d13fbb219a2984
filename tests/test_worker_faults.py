"""A worker process dies (SIGKILL) in the middle of a job: the job is taken over and finishes, exactly once.

Covered: an audit and a watermark batch whose pool process dies (the message comes back to the
broker), and a DP training run whose whole worker dies (the stale-job reaper requeues it); each time
a second real worker process is there to take the job over.
"""

import io
import os
import signal
import time

import numpy as np
import pandas as pd
import pytest
from django.test import override_settings

from accounts.models import Organization
from assay.celery import app
from audit import jobs, services
from audit.datasets import Schema
from audit.management.commands.train_baseline import train_and_register
from audit.models import AISystem, AuditRun, MetricResult
from core.jobs import reap_stale_jobs
from tests.workers import broker_messages, pool_children, start_worker, stop_worker, wait_for

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


def _kill_mid_job(model, pk, task_name, *, progress=5, timeout=300, whole_worker=False):
    """Send the job to worker a, SIGKILL it once the job runs, start worker b; return the finished row.

    `whole_worker=False` kills a's pool process (the one running the job): a's main process sees it
    die and puts the message back (reject_on_worker_lost), and a or b takes the job over once its
    heartbeat is stale. `whole_worker=True` kills a's main process too, as a lost machine would: the
    message dies with it, and the stale-job reaper requeues the job from its row.

    While it waits, this process plays celery beat: it runs the reaper every 2 s (beat's schedule
    says 60 s). Only the busy pool process is killed: an idle one may die holding the read lock of
    the task queue that the pool processes share under the filesystem broker (billiard's pool without
    per-process queues), which wedges that worker for good; Redis and RabbitMQ workers have no such
    lock.
    """
    env = {"ASSAY_JOB_STALE_SECONDS": STALE_SECONDS}
    workers = [start_worker("a", **env)]
    last_reap = time.monotonic()

    def finished_row():
        nonlocal last_reap
        if time.monotonic() - last_reap > 2:
            reap_stale_jobs()
            last_reap = time.monotonic()
        return model.objects.filter(pk=pk, status__in=["succeeded", "failed"]).first()

    try:
        app.send_task(task_name, args=[pk], queue="cpu")
        wait_for(lambda: model.objects.filter(pk=pk, status="running", progress__gte=progress).exists(),
                 timeout=120, message="job running")
        if whole_worker:
            os.killpg(workers[0].pid, signal.SIGKILL)
        else:
            for pid in pool_children(workers[0]):
                os.kill(pid, signal.SIGKILL)
        workers.append(start_worker("b", **env))
        with override_settings(ASSAY_JOB_STALE_SECONDS=STALE_SECONDS):
            return wait_for(finished_row, timeout=timeout, message="job finished")
    finally:
        logs = [stop_worker(worker) for worker in workers]
        if model.objects.filter(pk=pk, status="succeeded").count() != 1:
            row = model.objects.filter(pk=pk).values("status", "attempts", "stage", "progress", "heartbeat",
                                                      "error").first()
            print(f"\n{model.__name__} {pk}: {row}\nbroker: {broker_messages()}")
            print("\n".join(log[-4000:] for log in logs))


def test_a_killed_worker_process_leaves_no_stuck_or_duplicated_audit(slow_audit):
    run = _kill_mid_job(AuditRun, slow_audit.pk, "assay.audit.execute")
    assert run.status == "succeeded", run.error
    assert run.attempts >= 2
    assert MetricResult.objects.filter(audit_run=run).count() == 23


def test_a_killed_worker_process_leaves_one_dp_variant(slow_audit):
    from privacy.dp import DPParams
    from privacy.models import DPTrainingRun
    from privacy.services import start_dp_training

    # given: a DP training run long enough to be caught between epochs
    run = start_dp_training(user=None, model_version=slow_audit.model_version,
                            dataset_version=slow_audit.dataset_version,
                            params=DPParams(epsilon=2.0, epochs=100, batch_size=64), enqueue=False,
                            reference_audit=False)
    finished = _kill_mid_job(DPTrainingRun, run.pk, "assay.privacy.train_dp", progress=3, whole_worker=True)
    assert finished.status == "succeeded", finished.error
    assert finished.attempts >= 2
    children = slow_audit.model_version.children.all()
    assert children.count() == 1 and finished.result_model_id == children.get().pk


def test_a_killed_worker_process_leaves_one_stamped_zip(alice_org):
    import zipfile

    from PIL import Image

    from watermark.jobs import start_batch
    from watermark.models import ProvenanceRecord, WatermarkBatch
    from watermark.services import StampOptions

    rng = np.random.default_rng(0)
    files = []
    for i in range(40):
        pixels = np.clip(rng.normal(128, 50, (48, 48, 3)), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).resize((640, 640), Image.BICUBIC).save(buffer, "PNG")
        files.append((f"img{i}.png", buffer.getvalue()))
    batch = start_batch(user=None, organization=alice_org, files=files, options=StampOptions(), enqueue=False)
    finished = _kill_mid_job(WatermarkBatch, batch.pk, "assay.watermark.batch", progress=10)
    assert finished.status == "succeeded", finished.error
    assert finished.attempts >= 2
    # every image stamped once: the retry reused what the killed attempt had stamped
    assert ProvenanceRecord.objects.filter(batch=finished).count() == 40
    from core import artifacts
    with zipfile.ZipFile(io.BytesIO(artifacts.read(finished.result_artifact))) as out:
        assert len([n for n in out.namelist() if n.endswith(".png")]) == 40
