"""What the reports app does when another app finishes its work (connected in ReportsConfig.ready)."""

from __future__ import annotations

from .models import ScheduledRun
from .queue import enqueue_report


def report_scheduled_audit(sender, run_id: int, **kwargs) -> None:
    """On audit_finished: enqueue the report of the scheduled run that started this audit, if any."""
    fired = ScheduledRun.objects.filter(audit_run_id=run_id).values_list("pk", flat=True).first()
    if fired is not None:
        enqueue_report(fired)


def report_scheduled_evaluation(sender, evaluation_id: int, **kwargs) -> None:
    """On evaluation_finished: enqueue the report of the scheduled run that started this evaluation, if any."""
    fired = ScheduledRun.objects.filter(evaluation_id=evaluation_id).values_list("pk", flat=True).first()
    if fired is not None:
        enqueue_report(fired)
