"""Scheduled audits and reports: each step enqueues the next by task name; none waits for another."""

from core.jobs import job_task

from . import schedules, services
from .queue import EMAIL, FIRE_SCHEDULE, QUEUE, RENDER, WEBHOOK


@job_task(FIRE_SCHEDULE, queue=QUEUE, soft_time_limit=120)
def fire_schedule_task(schedule_id: int) -> None:
    schedules.fire(schedule_id)


@job_task(RENDER, queue=QUEUE, soft_time_limit=600)
def render_report_task(scheduled_run_id: int) -> None:
    services.report_for_scheduled_run(scheduled_run_id)


@job_task(EMAIL, queue=QUEUE, soft_time_limit=120)
def email_report_task(report_id: int) -> None:
    services.email_report(report_id)


@job_task(WEBHOOK, queue=QUEUE, soft_time_limit=60)
def call_webhook_task(report_id: int, attempt: int = 1) -> None:
    services.call_webhook(report_id, attempt)
