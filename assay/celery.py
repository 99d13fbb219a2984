"""The Celery app: configured from Django settings (CELERY_* names), tasks found per app."""

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")

app = Celery("assay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
@worker_init.connect
def _beat_from_threads(**kwargs) -> None:
    """In worker processes a claimed job's heartbeat beats from a thread (assay.jobs.Heartbeat)."""
    from assay import jobs

    jobs.HEARTBEAT_THREADS = True
