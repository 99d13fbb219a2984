from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Scheduled audits, reports and their delivery"

    def ready(self):
        from audit.signals import audit_finished

        from . import receivers

        audit_finished.connect(receivers.report_scheduled_audit, dispatch_uid="reports.report_scheduled_audit")
