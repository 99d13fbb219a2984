"""Scheduled audits and generative evaluations, and their reports: schedules, firings, reports, deliveries.

The tables keep the names they had in the audit app (`db_table`), so moving the models lost no data.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import OrganizationOwned, OrganizationOwnedQuerySet
from audit.models import AISystem, AuditRun, DatasetVersion, ModelVersion
from core.models import Artifact
from genai.models import Bank, Evaluation, Target

from .choices import DeliveryChannel, DeliveryStatus, ReportKind, ScheduleKind

__all__ = ["Schedule", "ScheduledRun", "Report", "ReportDelivery"]


class Schedule(OrganizationOwned):
    """A recurring audit, or generative evaluation, of one AI system: its beat entry, what to run, and who hears.

    An audit schedule (`kind` audit) names a dataset version; `model_version` NULL means "the
    system's current model at run time". An evaluation schedule (`kind` genai) names a target and
    banks, evaluated on each bank's current version at run time, with its options in `config`.
    Exactly one of `cron` and `interval_seconds` is set; the django-celery-beat PeriodicTask
    follows every change.
    """

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=ScheduleKind.choices, default=ScheduleKind.AUDIT)
    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="schedules")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="+", help_text="Empty: the system's current model")
    dataset_version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="+", help_text="What an audit schedule audits on")
    target = models.ForeignKey(Target, on_delete=models.PROTECT, null=True, blank=True, related_name="schedules",
                               help_text="What an evaluation schedule evaluates")
    banks = models.ManyToManyField(Bank, blank=True, related_name="schedules",
                                   help_text="An evaluation schedule's banks (their current versions at run time)")
    cron = models.CharField(max_length=120, blank=True, help_text='Five fields, e.g. "0 6 * * 1" (UTC)')
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    config = models.JSONField(default=dict, blank=True,
                              help_text="Audit parameters (METRICS.md), or an evaluation's (sample, seed, max_new_tokens …)")
    recipients = models.JSONField(default=list, blank=True, help_text="E-mail addresses")
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.CharField(max_length=200, blank=True, help_text="HMAC-SHA256 key of the webhook")
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", on_delete=models.SET_NULL,
                                         null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "audit_schedule"
        ordering = ["system", "name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def timing(self) -> str:
        """Return the schedule in words: the cron expression or the interval."""
        return f"cron {self.cron}" if self.cron else f"every {self.interval_seconds} s"


class ScheduledRun(OrganizationOwned):
    """One firing of a schedule: the audit or evaluation it started, or why none could start."""

    schedule = models.ForeignKey(Schedule, on_delete=models.SET_NULL, null=True, related_name="runs")
    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="+")
    audit_run = models.OneToOneField(AuditRun, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    evaluation = models.OneToOneField(Evaluation, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    error = models.TextField(blank=True, help_text="Why no audit or evaluation started")
    fired_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "audit_scheduledrun"
        ordering = ["-fired_at", "-id"]


class ReportQuerySet(OrganizationOwnedQuerySet):
    def delete(self):
        raise ValueError("Reports are immutable")


class Report(OrganizationOwned):
    """A rendered audit or evaluation report (or failure report): its facts, and its PDF in the artifact store.

    Immutable: the facts were rendered into the PDF whose SHA-256 is kept here.
    """

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="reports")
    schedule = models.ForeignKey(Schedule, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports")
    scheduled_run = models.OneToOneField(ScheduledRun, on_delete=models.PROTECT, null=True, blank=True,
                                         related_name="report")
    audit_run = models.ForeignKey(AuditRun, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    evaluation = models.ForeignKey(Evaluation, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    previous = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=16, choices=ReportKind.choices)
    title = models.CharField(max_length=300)
    content = models.JSONField(help_text="The facts the PDF was rendered from (charts included)")
    alerts = models.JSONField(default=list, blank=True, help_text="Metrics whose status got worse")
    changed = models.BooleanField(default=False, help_text="Something moved since the previous report")
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the PDF")
    pdf_hmac = models.CharField(max_length=64, blank=True, default="",
                                help_text="HMAC-SHA256 of the PDF under the audit-log key")
    content_hmac = models.CharField(max_length=64, blank=True, default="",
                                    help_text="HMAC-SHA256 of the canonical JSON of `content` under the audit-log key")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(default=timezone.now)

    objects = ReportQuerySet.as_manager()

    class Meta:
        db_table = "audit_report"
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Reports are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Reports are immutable")


class ReportDelivery(models.Model):
    """How a report reached its recipients: one row per e-mail sent or webhook outcome."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=DeliveryChannel.choices)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    target = models.CharField(max_length=500)
    attempts = models.PositiveSmallIntegerField(default=1)
    detail = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "audit_reportdelivery"
        ordering = ["report", "created", "id"]
