"""Evidence the organisation supplies (documents, attestations) and immutable assessments."""

from django.conf import settings
from django.db import models

from accounts.models import OrganizationOwned, OrganizationOwnedQuerySet
from audit.models import AISystem
from core.models import Artifact

from .choices import DocumentKind

__all__ = ["EvidenceDocument", "Attestation", "Assessment"]


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

