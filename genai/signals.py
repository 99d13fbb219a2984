"""What the genai app tells others; it imports none of them (reports subscribes in its AppConfig.ready)."""

import django.dispatch

# Sent (sender=Evaluation, evaluation_id=…) once an evaluation has ended: succeeded, failed or cancelled.
evaluation_finished = django.dispatch.Signal()
