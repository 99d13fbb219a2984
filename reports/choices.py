"""Choices of scheduled audit reports."""

from django.db import models


class ReportKind(models.TextChoices):
    AUDIT = "audit", "Audit report"
    FAILURE = "failure", "Failure report (the audit did not succeed)"


class DeliveryChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class DeliveryStatus(models.TextChoices):
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
