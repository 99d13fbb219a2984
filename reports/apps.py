from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Scheduled audits and evaluations, reports and their delivery"

    def ready(self):
        from audit.signals import audit_finished
        from genai.signals import evaluation_finished

        from . import receivers

        audit_finished.connect(receivers.report_scheduled_audit, dispatch_uid="reports.report_scheduled_audit")
        evaluation_finished.connect(receivers.report_scheduled_evaluation,
                                    dispatch_uid="reports.report_scheduled_evaluation")
