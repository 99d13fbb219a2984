"""What every long job shares: the task decorator, claiming a job row once, progress, cancellation.

A job row (AuditRun, DPTrainingRun, …) holds status, progress, heartbeat and error; the UI and the
API read that row, never Celery's result store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from audit.choices import JobStatus

STALE_AFTER = timedelta(seconds=getattr(settings, "ASSAY_JOB_STALE_SECONDS", 300))
MAX_ATTEMPTS = 3


class JobCancelled(Exception):
    """The user asked for the job to stop."""


def job_task(name: str, *, queue: str = "default", soft_time_limit: int = 6 * 3600) -> Callable:
    """Return the decorator every Assay task goes through: stable name, queue, late acks, time limits."""
    return shared_task(
        name=name, queue=queue, acks_late=True, reject_on_worker_lost=True,
        soft_time_limit=soft_time_limit, time_limit=soft_time_limit + 60, ignore_result=True,
    )


def claim(model, pk) -> bool:
    """Claim a queued job, or a running one whose worker stopped beating; True when this caller won.

    One conditional UPDATE: of two workers that receive the same (redelivered) task, one wins.
    """
    now = timezone.now()
    stale = Q(status=JobStatus.RUNNING, heartbeat__lt=now - STALE_AFTER)
    won = model.objects.filter(Q(pk=pk) & (Q(status=JobStatus.QUEUED) | stale)).filter(
        attempts__lt=MAX_ATTEMPTS
    ).update(status=JobStatus.RUNNING, started=now, heartbeat=now, progress=0, attempts=F("attempts") + 1)
    return won == 1


def reporter(model, pk) -> tuple[Callable[[int, str], None], Callable[[], bool]]:
    """Return (progress, should_cancel) callbacks that write the job row's progress and heartbeat."""

    def progress(percent: int, stage: str) -> None:
        model.objects.filter(pk=pk, status=JobStatus.RUNNING).update(
            progress=max(0, min(100, int(percent))), stage=stage[:200], heartbeat=timezone.now()
        )

    def should_cancel() -> bool:
        return model.objects.filter(pk=pk, cancel_requested=True).exists()

    return progress, should_cancel


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
