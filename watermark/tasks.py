from core.jobs import runner_task

from . import jobs

execute_batch_task = runner_task(jobs.BatchRunner, soft_time_limit=3 * 3600)  # "assay.watermark.batch"
