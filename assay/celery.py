"""The Celery app: configured from Django settings (CELERY_* names), tasks found per app."""

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

from core import jobs, sandbox

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")

app = Celery("assay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# In worker processes a claimed job's heartbeat beats from a thread (core.jobs.Heartbeat).
worker_init.connect(jobs.beat_from_threads, weak=False)
worker_process_init.connect(jobs.beat_from_threads, weak=False)
# Each worker process starts its first job's sandboxed child now (ASSAY_SANDBOX_WARM=auto: on in workers).
worker_process_init.connect(sandbox.warm_up_worker, weak=False)
