from assay.jobs import job_task

from . import jobs


@job_task("assay.audit.execute", queue="cpu")
def execute_audit_task(run_id: int) -> None:
    jobs.execute_audit(run_id)
