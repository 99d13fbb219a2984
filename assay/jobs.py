"""What every long job shares: the task decorator, claiming a job row once, progress, cancellation.

A job row (AuditRun, DPTrainingRun, …) holds status, progress, heartbeat and error; the UI and the
API read that row, never Celery's result store.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import F, Q
from django.utils import timezone

from audit.choices import JobStatus

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


def stale_after() -> timedelta:
    """How long a running job's heartbeat may be silent before its worker counts as dead."""
    return timedelta(seconds=getattr(settings, "ASSAY_JOB_STALE_SECONDS", 300))


class JobCancelled(Exception):
    """The user asked for the job to stop."""


ROUTES: dict[str, str] = {}


def job_task(name: str, *, queue: str = "default", soft_time_limit: int = 6 * 3600, **options) -> Callable:
    """Return the decorator every Assay task goes through: stable name, queue, late acks, time limits."""
    ROUTES[name] = queue
    register = shared_task(
        name=name, acks_late=True, reject_on_worker_lost=True,
        soft_time_limit=soft_time_limit, time_limit=soft_time_limit + 60, ignore_result=True, **options,
    )

    def decorator(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            finally:
                stop_heartbeats()  # whatever the task claimed, it no longer holds

        return register(run)

    return decorator


def retry_while_running(task, model, pk) -> None:
    """Look again later at a job another worker holds, once that worker's heartbeat could be stale.

    A message redelivered after its worker died finds the row still `running`; rather than block,
    the task retries after stale_after(), when `claim` takes the job over if the heartbeat stopped.
    """
    if model.objects.filter(pk=pk, status=JobStatus.RUNNING).exists():
        raise task.retry(countdown=stale_after().total_seconds() + 1, max_retries=MAX_ATTEMPTS * 3)


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery router (CELERY_TASK_ROUTES): the queue a task was declared with, unless the caller named one."""
    return {"queue": ROUTES[name]} if name in ROUTES else None


def claim(model, pk) -> bool:
    """Claim a queued job, or a running one whose worker stopped beating; True when this caller won.

    One conditional UPDATE: of two workers that receive the same (redelivered) task, one wins. In a
    worker process the winner's heartbeat then beats from a thread until the task returns, so a live
    worker is never taken for dead, however long one step of its job runs without reporting progress.
    """
    now = timezone.now()
    stale = Q(status=JobStatus.RUNNING, heartbeat__lt=now - stale_after())
    won = model.objects.filter(Q(pk=pk) & (Q(status=JobStatus.QUEUED) | stale)).filter(
        attempts__lt=MAX_ATTEMPTS
    ).update(status=JobStatus.RUNNING, started=now, heartbeat=now, progress=0, attempts=F("attempts") + 1)
    if won == 1 and HEARTBEAT_THREADS:
        attempt = model.objects.filter(pk=pk).values_list("attempts", flat=True).first()
        _heartbeats.append(Heartbeat(model, pk, attempt))
    return won == 1


#
# Heartbeats: a thread per claimed job, in worker processes only (HEARTBEAT_THREADS, set when a
# Celery worker process starts). Eager and in-process runs (tests, manage.py commands) beat through
# their progress reports alone.
#

HEARTBEAT_THREADS = False
_heartbeats: list[Heartbeat] = []


class Heartbeat(threading.Thread):
    """Refresh a claimed job's heartbeat every third of the staleness window until stopped.

    It beats only while the row is running under the attempt that claimed it: a job taken over by
    another worker, or finished, is left alone.
    """

    def __init__(self, model, pk, attempt):
        super().__init__(name=f"heartbeat-{model._meta.label}-{pk}", daemon=True)
        self.model, self.pk, self.attempt = model, pk, attempt
        self.interval = max(0.5, min(60.0, stale_after().total_seconds() / 3))
        self.stopped = threading.Event()
        self.start()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    beating = self.model.objects.filter(pk=self.pk, status=JobStatus.RUNNING,
                                                        attempts=self.attempt).update(heartbeat=timezone.now())
                except DatabaseError as exc:  # a locked SQLite file: try again at the next beat
                    logger.warning("Heartbeat of %s %s missed: %s", self.model.__name__, self.pk, exc)
                    continue
                if not beating:
                    return
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


def stop_heartbeats() -> None:
    """Stop the heartbeat threads of the jobs this process claimed."""
    while _heartbeats:
        _heartbeats.pop().stop()


def reporter(model, pk) -> tuple[Callable[[int, str], None], Callable[[], bool]]:
    """Return (progress, should_cancel) callbacks that write the job row's progress and heartbeat."""

    def progress(percent: int, stage: str) -> None:
        model.objects.filter(pk=pk, status=JobStatus.RUNNING).update(
            progress=max(0, min(100, int(percent))), stage=stage[:200], heartbeat=timezone.now()
        )

    def should_cancel() -> bool:
        return model.objects.filter(pk=pk, cancel_requested=True).exists()

    return progress, should_cancel


def request_cancel(model, pk) -> None:
    """Cancel a queued job at once; flag a running one, which stops at its next check of `should_cancel`."""
    model.objects.filter(pk=pk, status=JobStatus.QUEUED).update(status=JobStatus.CANCELLED)
    model.objects.filter(pk=pk).update(cancel_requested=True)


def finish(model, pk, status: str, **fields) -> bool:
    """Move a running job to a final status; True when it was still running."""
    now = timezone.now()
    extra = {"progress": 100} if status == JobStatus.SUCCEEDED else {}
    return model.objects.filter(pk=pk, status=JobStatus.RUNNING).update(
        status=status, finished=now, heartbeat=now, **extra, **fields
    ) == 1


def readable_error(exc: BaseException) -> str:
    """Return a one-paragraph message for a failed job, never a traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:1000] if text else type(exc).__name__


#
# The reaper: jobs whose worker died are requeued, up to MAX_ATTEMPTS, then failed with the reason.
#

REQUEUE: dict[str, tuple[type, str, Callable[[object], str]]] = {}


def register_job(model, task_name: str, queue_for: Callable[[object], str]) -> None:
    """Let the reaper requeue abandoned rows of `model` by sending `task_name` to `queue_for(row)`."""
    REQUEUE[model._meta.label] = (model, task_name, queue_for)


def reap_stale_jobs(now=None) -> dict[str, int]:
    """Requeue or fail running jobs whose heartbeat is older than stale_after(); return counts per model."""
    from assay.celery import app

    app.loader.import_default_modules()  # every app's tasks module, where register_job is called
    now = now or timezone.now()
    counts = {}
    for label, (model, task_name, queue_for) in REQUEUE.items():
        stale = model.objects.filter(status=JobStatus.RUNNING, heartbeat__lt=now - stale_after())
        failed = stale.filter(attempts__gte=MAX_ATTEMPTS).update(
            status=JobStatus.FAILED, finished=now,
            error=f"Abandoned: its worker stopped responding {MAX_ATTEMPTS} times; giving up",
        )
        requeued = 0
        for row in stale.filter(attempts__lt=MAX_ATTEMPTS):
            if model.objects.filter(pk=row.pk, status=JobStatus.RUNNING, heartbeat=row.heartbeat).update(
                status=JobStatus.QUEUED, stage="requeued after its worker stopped responding"
            ):
                app.send_task(task_name, args=[row.pk], queue=queue_for(row))
                requeued += 1
        counts[label] = failed + requeued
    return counts


@job_task("assay.jobs.reap", queue="default", soft_time_limit=120)
def reap_stale_jobs_task() -> None:
    reap_stale_jobs()
