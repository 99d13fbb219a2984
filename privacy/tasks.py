from assay.jobs import job_task, register_job, retry_while_running

from . import services
from .models import DPTrainingRun


@job_task("assay.privacy.train_dp", queue="cpu", bind=True)
def execute_dp_training_task(self, run_id: int) -> None:
    if not services.execute_dp_training(run_id):
        retry_while_running(self, DPTrainingRun, run_id)


register_job(DPTrainingRun, "assay.privacy.train_dp", lambda run: services.queue_for_dp())
