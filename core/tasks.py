"""Tasks of what every app stands on: checkpointing the audit log outside the database."""

from core.jobs import job_task


@job_task("assay.audit.checkpoint_log", queue="default", soft_time_limit=600)
def checkpoint_audit_log_task() -> None:
    """Checkpoint every chain's head outside the database (beat, every ASSAY_AUDIT_CHECKPOINT_MINUTES)."""
    from accounts.models import Organization
    from core import auditlog

    for org_id in [*Organization.objects.values_list("pk", flat=True), None]:
        auditlog.write_checkpoint(org_id)
