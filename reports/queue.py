"""The names of the reports app's tasks, and how its services enqueue them (by name, core.jobs).

The names are the ones beat entries and queued messages refer to: never rename them. A service
enqueues by name, so it never imports the tasks module that calls it.
"""

from __future__ import annotations

from celery import current_app

from core.jobs import enqueue, send

FIRE_SCHEDULE = "assay.reports.fire_schedule"
RENDER = "assay.reports.render"
EMAIL = "assay.reports.email"
WEBHOOK = "assay.reports.webhook"
QUEUE = "default"


def enqueue_report(scheduled_run_id: int) -> None:
    """Render the report of one firing once the current transaction commits; never wait for it."""
    enqueue(RENDER, scheduled_run_id, queue=QUEUE)


def send_now(name: str, *args) -> None:
    """Send the task called `name` now (from an on-commit callback or a task: the rows it reads exist)."""
    send(name, *args, queue=QUEUE)


def send_later(name: str, *args, countdown: float) -> None:
    """Send the task called `name` to run `countdown` seconds from now (at once when Celery is eager)."""
    if current_app.conf.task_always_eager:
        send(name, *args, queue=QUEUE)
    else:
        current_app.send_task(name, args=list(args), queue=QUEUE, countdown=countdown)
