"""Choices of scheduled audits, scheduled generative evaluations and their reports."""

from django.db import models


class ScheduleKind(models.TextChoices):
    AUDIT = "audit", "Audit of a model on a dataset"
    GENAI = "genai", "Generative safety evaluation of a target on banks"


class ReportKind(models.TextChoices):
    AUDIT = "audit", "Audit report"
    GENAI = "genai", "Generative evaluation report (the self-assessment)"
    FAILURE = "failure", "Failure report (the audit or evaluation did not succeed)"


class DeliveryChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class DeliveryStatus(models.TextChoices):
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
