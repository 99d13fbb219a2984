"""Evidence the organisation supplies (documents, attestations) and immutable assessments."""

from django.conf import settings
from django.db import models

from accounts.models import OrganizationOwned, OrganizationOwnedQuerySet
from audit.models import AISystem
from core.models import Artifact, Job

from .choices import DocumentKind

__all__ = ["EvidenceDocument", "Attestation", "Assessment", "EventBatch", "SystemEvent", "EvidenceSample", "SampleJob"]


class EvidenceDocument(OrganizationOwned):
    """An uploaded document of a named kind (technical documentation, FRIA, filing number …) for a system."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="compliance_documents")
    kind = models.CharField(max_length=40, choices=DocumentKind.choices)
    title = models.CharField(max_length=200)
    reference = models.CharField(max_length=200, blank=True, help_text="e.g. a filing or registration number")
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    withdrawn = models.DateTimeField(null=True, blank=True, help_text="Withdrawn documents are no evidence")
    # Evidence only once a reviewer who is not the uploader approves it (COMPLIANCE.md A2.2)
    review = models.CharField(max_length=12, blank=True, default="",
                              choices=[("", "awaiting review"), ("approved", "approved"), ("rejected", "rejected")])
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    reviewed_by_name = models.CharField(max_length=150, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    section_check = models.JSONField(default=dict, blank=True,
                                     help_text="Required sections found and missing, for kinds with known contents")

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"


class Attestation(OrganizationOwned):
    """A person's statement that a checklist item is met; it expires after a configurable period."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="compliance_attestations")
    item_id = models.CharField(max_length=40)
    text = models.TextField()
    attested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    attested_by_name = models.CharField(max_length=150)
    attested_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    revoked = models.DateTimeField(null=True, blank=True)
    item_text_version = models.CharField(max_length=16, blank=True,
                                         help_text="The item's text version attested; a change asks for renewal")
    framework_version = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["-attested_at", "-id"]
        indexes = [models.Index(fields=["system", "item_id"], name="compliance_attest_item")]

    def __str__(self) -> str:
        return f"{self.item_id} by {self.attested_by_name}"


class AssessmentQuerySet(OrganizationOwnedQuerySet):
    def update(self, **kwargs):
        raise ValueError("An assessment is immutable: take a new snapshot instead")

    def delete(self):
        raise ValueError("An assessment is immutable and cannot be deleted")


class Assessment(OrganizationOwned):
    """An immutable snapshot of one or more checklists, with the SHA-256 of its canonical content."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="compliance_assessments")
    frameworks = models.JSONField(help_text="The bundles evaluated, e.g. [\"eu_ai_act\", \"cn_genai\"]")
    framework_versions = models.JSONField(default=list)
    evaluated_on = models.DateField()
    profile = models.JSONField(default=dict)
    content = models.JSONField()
    sha256 = models.CharField(max_length=64)
    content_hmac = models.CharField(max_length=64, blank=True, default="",
                                    help_text="HMAC-SHA256 of the canonical content under the audit-log key")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    objects = AssessmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"Assessment {self.pk} of {self.system} ({', '.join(self.frameworks)})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("An assessment is immutable: take a new snapshot instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("An assessment is immutable and cannot be deleted")



class EventBatch(OrganizationOwned):
    """One delivery of a system's own event log: an API batch of JSON lines, or an uploaded log export."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="compliance_event_batches")
    source = models.CharField(max_length=8, choices=[("api", "API"), ("upload", "log export upload")])
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    filename = models.CharField(max_length=200, blank=True)
    accepted = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]


class SystemEvent(OrganizationOwned):
    """One event the AI system logged itself (Art. 12): never Assay's own activity log."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="compliance_events")
    batch = models.ForeignKey(EventBatch, on_delete=models.CASCADE, related_name="events")
    timestamp = models.DateTimeField()
    event_type = models.CharField(max_length=100, blank=True)
    input_id = models.CharField(max_length=200, blank=True, help_text="Identifier of the input data")
    reference_data = models.CharField(max_length=200, blank=True,
                                      help_text="Reference database or data the input was checked against")
    verified_by = models.CharField(max_length=200, blank=True, help_text="Person who verified the result")
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["timestamp", "id"]
        indexes = [models.Index(fields=["system", "timestamp"], name="compliance_event_time")]


class EvidenceSample(OrganizationOwned):
    """One of the system's own outputs, verified for every label layer after the robustness transformations."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="compliance_samples")
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64)
    report = models.JSONField(default=dict, help_text="Per layer: the result on the file and after each transformation")
    thumbnail = models.TextField(blank=True, help_text="A small PNG data URL for exports")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    removed = models.DateTimeField(null=True, blank=True, help_text="Removed samples are no evidence")

    class Meta:
        ordering = ["created", "id"]


class SampleJob(Job):
    """An output sample too large to verify in a web request, verified by a worker (core.jobs)."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="+")
    input_artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(max_length=200, blank=True)
    sample = models.ForeignKey(EvidenceSample, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created", "-id"]
