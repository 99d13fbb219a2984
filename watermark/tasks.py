from assay.jobs import job_task

from . import jobs


@job_task("assay.watermark.batch", queue="cpu", soft_time_limit=3 * 3600)
def execute_batch_task(batch_id: int) -> None:
    jobs.execute_batch(batch_id)
