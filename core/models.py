"""The models every app builds on: the long job row (abstract), the encrypted artifact, the audit log.

Artifact, ChainHead and AuditLogEntry moved here from the audit app (core 0001, audit 0005, state
only): their tables keep the names they were created with (Meta.db_table), so no row moves.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization, OrganizationOwned, OrganizationOwnedQuerySet

from .choices import JobStatus

__all__ = ["Job", "Artifact", "AuditLogEntry", "ChainHead"]


class Job(OrganizationOwned):
    """Status, progress and heartbeat shared by every long job row (core.jobs claims and runs it)."""

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    device = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


#
# Artifacts (core.artifacts stores and reads them)
#


class Artifact(OrganizationOwned):
    """An uploaded file, stored encrypted (AES-256-GCM) under the data folder, with its SHA-256."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the plaintext")
    size = models.BigIntegerField()
    filename = models.CharField(max_length=255)
    key_id = models.CharField(max_length=16, help_text="Which encryption key sealed it")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "audit_artifact"

    def __str__(self) -> str:
        return f"{self.filename} ({self.sha256[:12]})"


#
# Audit log: append-only, hash-chained per organisation (organization NULL = installation chain);
# core.auditlog appends and verifies
#


class ChainHead(models.Model):
    """The last entry of one chain; locked while appending so that two writers never fork it."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, null=True, related_name="+")
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        db_table = "audit_chainhead"


class AuditLogQuerySet(OrganizationOwnedQuerySet):
    """Entries' queryset: a bulk delete would bypass AuditLogEntry.delete(), so it refuses too."""

    def delete(self):
        raise ValueError("The audit log is append-only")


class AuditLogEntry(models.Model):
    """One event: who did what to which object, chained to the previous entry by its hash."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, null=True, related_name="+")
    seq = models.PositiveBigIntegerField()
    created = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        db_table = "audit_auditlogentry"
        ordering = ["organization_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["organization", "seq"], name="audit_log_unique_seq")]
        indexes = [models.Index(fields=["organization", "object_type", "object_id"], name="audit_log_object")]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("The audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("The audit log is append-only")
