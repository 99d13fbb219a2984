from assay.jobs import job_task, register_job

from . import jobs
from .models import AuditRun


@job_task("assay.audit.execute", queue="cpu")
def execute_audit_task(run_id: int) -> None:
    jobs.execute_audit(run_id)


register_job(AuditRun, "assay.audit.execute", lambda run: jobs.queue_for(run.model_version))
