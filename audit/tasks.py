from core.jobs import job_task, runner_task

from . import jobs

execute_audit_task = runner_task(jobs.AuditRunner)  # "assay.audit.execute"


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
