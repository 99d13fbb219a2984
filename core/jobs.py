"""What every long job shares: the task decorator, enqueueing by name, claiming a row once, the one
runner, progress, cancellation and the reaper.

A job row (AuditRun, DPTrainingRun, WatermarkBatch …, all `core.models.Job`) holds status, progress,
heartbeat and error; the UI and the API read that row, never Celery's result store. Each kind of job
is a `JobRunner` subclass (how to load, compute and store it) and one Celery task made by
`runner_task`; `run_job` drives every kind through the same lifecycle (netbox's `JobRunner.handle`).
A service starts a job by creating its row and calling `enqueue` with the task's name, so it never
imports its own tasks module (saleor: the caller enqueues by id, the task loads the row).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

from celery import current_app, shared_task
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from .choices import JobStatus
from .errors import AssayError

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 3

Progress = Callable[[int, str], None]
ShouldCancel = Callable[[], bool]

def stale_after() -> timedelta:
    """How long a running job's heartbeat may be silent before its worker counts as dead."""
    return timedelta(seconds=getattr(settings, "ASSAY_JOB_STALE_SECONDS", 300))


class JobCancelled(Exception):
    """The user asked for the job to stop."""


#
# Tasks: declared with a stable name and queue, enqueued by name
#

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


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery router (CELERY_TASK_ROUTES): the queue a task was declared with, unless the caller named one."""
    return {"queue": ROUTES[name]} if name in ROUTES else None


def enqueue(task_name: str, *args: Any, queue: str = "default") -> None:
    """Send the task `task_name` with `args` to `queue` once the current transaction commits.

    By name, so the caller imports no tasks module. Under task_always_eager (the tests) the task runs
    in this process instead: `send_task` ignores eager mode, so the registered task is applied.
    """
    transaction.on_commit(lambda: send(task_name, *args, queue=queue))


def send(task_name: str, *args: Any, queue: str = "default") -> None:
    """Send the task `task_name` now (enqueue waits for the commit; a job row must be visible first)."""
    app = current_app
    if not app.conf.task_always_eager:
        app.send_task(task_name, args=list(args), queue=queue)
        return
    if task_name not in app.tasks:
        app.loader.import_default_modules()  # every app's tasks module
    app.tasks[task_name].apply_async(args, queue=queue)


def retry_while_running(task, model, pk) -> None:
    """Look again later at a job another worker holds, once that worker's heartbeat could be stale.

    A message redelivered after its worker died finds the row still `running`; rather than block,
    the task retries after stale_after(), when `claim` takes the job over if the heartbeat stopped.
    """
    if model.objects.filter(pk=pk, status=JobStatus.RUNNING).exists():
        raise task.retry(countdown=stale_after().total_seconds() + 1, max_retries=MAX_ATTEMPTS * 3)


#
# The runner: one lifecycle for every kind of job
#

JOBS: dict[str, type[JobRunner]] = {}


class JobRunner:
    """One kind of long job: how its row is loaded, its result computed and stored.

    Subclasses set `model`, `task_name` and `failure_action` and implement `compute` and `store`;
    `run_job` does the rest. Defining a subclass with a `task_name` registers it in JOBS, where
    the reaper finds the rows to requeue.
    """

    model: ClassVar[type]  # a core.models.Job subclass
    task_name: ClassVar[str]  # the Celery task that runs it (runner_task makes it)
    failure_action: ClassVar[str]  # the audit-log action of a failure, e.g. "audit.fail"
    label: ClassVar[str] = "Job"  # how the log names one: "Audit 12 failed"
    queue: ClassVar[str] = "cpu"  # the Celery queue, unless queue_for says otherwise
    related: ClassVar[tuple[str, ...]] = ()  # what `load` selects with the row
    cancelled: ClassVar[tuple[type[BaseException], ...]] = (JobCancelled,)  # exceptions that mean "cancelled"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "task_name" in cls.__dict__:
            JOBS[cls.task_name] = cls

    @classmethod
    def queue_for(cls, row) -> str:
        """Return the queue of the row's task (the reaper requeues it there too)."""
        return cls.queue

    @classmethod
    def enqueue(cls, row) -> None:
        """Send the row's task to its queue once the current transaction commits."""
        enqueue(cls.task_name, row.pk, queue=cls.queue_for(row))

    def load(self, pk):
        """Return the claimed row with what `compute` reads."""
        return self.model.objects.select_related(*self.related).get(pk=pk)

    def compute(self, row, progress: Progress, should_cancel: ShouldCancel) -> Any:
        """Return the job's result; report with `progress`, raise JobCancelled when `should_cancel()`."""
        raise NotImplementedError

    def store(self, row, result: Any) -> None:
        """Write the result and finish the row `succeeded` in one transaction (`finish`); nothing if it lost the row."""
        raise NotImplementedError

    def finished(self, row) -> None:
        """Called once the job ended, whatever its outcome (not when it could not be claimed)."""


def run_job(runner_cls: type[JobRunner], pk, **options) -> bool:
    """Claim the job row `pk` and run it: load → compute → store; safe to call twice.

    One try/except for every kind: a cancel ends the row `cancelled`; any other exception ends it
    `failed` with a readable error, logged once, and appended once to the audit log (core.auditlog).
    `options` go to the runner's constructor. Returns False when the job could not be claimed
    (finished, or held by a live worker).
    """
    runner = runner_cls(**options)
    model = runner.model
    if not claim(model, pk):
        return False
    row = runner.load(pk)
    progress, should_cancel = reporter(model, pk)
    try:
        runner.store(row, runner.compute(row, progress, should_cancel))
    except runner.cancelled:
        finish(model, pk, JobStatus.CANCELLED, stage="cancelled")
    except Exception as exc:  # the job must end readable, whatever broke
        error = readable_error(exc)
        if isinstance(exc, AssayError):  # the user's input was refused: one line, no traceback
            logger.warning("%s %s failed: %s", runner.label, pk, error)
        else:
            logger.exception("%s %s failed", runner.label, pk)
        if finish(model, pk, JobStatus.FAILED, error=error):
            from . import auditlog  # core.jobs loads before the app registry (assay/celery.py); models after

            auditlog.record_job_failure(row, action=runner.failure_action, error=error)
    runner.finished(row)
    return True


def runner_task(runner_cls: type[JobRunner], **options) -> Callable:
    """Return the Celery task of a runner: run the job, or retry later while another worker holds it."""

    def execute(self, pk) -> None:
        if not run_job(runner_cls, pk):
            retry_while_running(self, runner_cls.model, pk)

    execute.__name__ = execute.__qualname__ = f"execute_{runner_cls.__name__}"
    return job_task(runner_cls.task_name, queue=runner_cls.queue, bind=True, **options)(execute)


#
# The row: claim, progress, cancel, finish
#


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


def reporter(model, pk) -> tuple[Progress, ShouldCancel]:
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


def beat_from_threads(**kwargs) -> None:
    """In worker processes a claimed job's heartbeat beats from a thread (connected in assay/celery.py)."""
    global HEARTBEAT_THREADS
    HEARTBEAT_THREADS = True


#
# The reaper: jobs whose worker died are requeued, up to MAX_ATTEMPTS, then failed with the reason.
#


def reap_stale_jobs(now=None) -> dict[str, int]:
    """Requeue or fail running jobs whose heartbeat is older than stale_after(); return counts per model."""
    app = current_app
    app.loader.import_default_modules()  # every app's tasks module, which defines its runners
    now = now or timezone.now()
    counts = {}
    for runner in JOBS.values():
        model = runner.model
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
                app.send_task(runner.task_name, args=[row.pk], queue=runner.queue_for(row))
                requeued += 1
        counts[model._meta.label] = failed + requeued
    return counts


@job_task("assay.jobs.reap", queue="default", soft_time_limit=120)
def reap_stale_jobs_task() -> None:
    reap_stale_jobs()
