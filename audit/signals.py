"""What the audit app tells others; it imports none of them (reports subscribes in its AppConfig.ready)."""

import django.dispatch

# Sent (sender=AuditRun, run_id=…) once an audit run has ended, whether it succeeded, failed or was cancelled.
audit_finished = django.dispatch.Signal()
