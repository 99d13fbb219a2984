from core.jobs import runner_task

from . import jobs

execute_audit_task = runner_task(jobs.AuditRunner)  # "assay.audit.execute"
