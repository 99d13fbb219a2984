from assay.jobs import job_task, register_job, retry_while_running

from . import jobs
from .models import AuditRun


@job_task("assay.audit.execute", queue="cpu", bind=True)
def execute_audit_task(self, run_id: int) -> None:
    if not jobs.execute_audit(run_id):
        retry_while_running(self, AuditRun, run_id)


register_job(AuditRun, "assay.audit.execute", lambda run: jobs.queue_for(run.model_version))


#
# Scheduled audits and reports: each step enqueues the next; none waits for another.
#


@job_task("assay.reports.fire_schedule", queue="default", soft_time_limit=120)
def fire_schedule_task(schedule_id: int) -> None:
    from . import schedules

    schedules.fire(schedule_id)


@job_task("assay.reports.render", queue="default", soft_time_limit=600)
def render_report_task(scheduled_run_id: int) -> None:
    from . import reports

    reports.report_for_scheduled_run(scheduled_run_id)


@job_task("assay.reports.email", queue="default", soft_time_limit=120)
def email_report_task(report_id: int) -> None:
    from . import reports

    reports.email_report(report_id)


@job_task("assay.reports.webhook", queue="default", soft_time_limit=60)
def call_webhook_task(report_id: int, attempt: int = 1) -> None:
    from . import reports

    reports.call_webhook(report_id, attempt)


@job_task("assay.audit.checkpoint_log", queue="default", soft_time_limit=600)
def checkpoint_audit_log_task() -> None:
    """Checkpoint every chain's head outside the database (beat, every ASSAY_AUDIT_CHECKPOINT_MINUTES)."""
    from accounts.models import Organization

    from . import auditlog

    for org_id in [*Organization.objects.values_list("pk", flat=True), None]:
        auditlog.write_checkpoint(org_id)
