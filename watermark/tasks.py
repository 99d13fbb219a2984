from assay.jobs import job_task, register_job, retry_while_running

from . import jobs
from .models import WatermarkBatch


@job_task("assay.watermark.batch", queue="cpu", soft_time_limit=3 * 3600, bind=True)
def execute_batch_task(self, batch_id: int) -> None:
    if not jobs.execute_batch(batch_id):
        retry_while_running(self, WatermarkBatch, batch_id)


register_job(WatermarkBatch, "assay.watermark.batch", lambda batch: "cpu")
