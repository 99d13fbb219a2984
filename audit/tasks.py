from core.jobs import job_task, runner_task

from . import jobs

execute_audit_task = runner_task(jobs.AuditRunner)  # "assay.audit.execute"


@job_task("assay.audit.checkpoint_log", queue="default", soft_time_limit=600)
def checkpoint_audit_log_task() -> None:
    """Checkpoint every chain's head outside the database (beat, every ASSAY_AUDIT_CHECKPOINT_MINUTES)."""
    from accounts.models import Organization
    from core import auditlog

    for org_id in [*Organization.objects.values_list("pk", flat=True), None]:
        auditlog.write_checkpoint(org_id)
