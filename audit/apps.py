from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Registry, artifacts, audits and the audit log"

    def ready(self):
        from . import auditlog  # noqa: F401  (records failed jobs: its job_failed receiver)
