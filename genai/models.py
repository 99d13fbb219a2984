"""Generative targets, banks and their versions, evaluation runs and their judged items (GENAI.md)."""

from django.conf import settings
from django.db import models

from accounts.models import OrganizationOwned
from audit.models import AISystem, ModelVersion
from core.models import Artifact, Job

from .choices import HumanVerdict, ItemVerdict, TargetKind


class Target(OrganizationOwned):
    """The generative system under test: a GGUF file run in the sandbox, or an OpenAI-compatible endpoint.

    A GGUF target is either a registry model version in the gguf format (`model_version`, its artifact
    also in `model_artifact`) or, as before the registry knew gguf, a file uploaded with the target.
    """

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=TargetKind.choices)
    model_artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                       help_text="The GGUF file (kind gguf), encrypted")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="genai_targets",
                                      help_text="The gguf model version of the registry this target runs (kind gguf)")
    base_url = models.CharField(max_length=500, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    api_key = models.ForeignKey(Artifact, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                help_text="The endpoint's API key, encrypted; never shown again")
    concurrency = models.PositiveSmallIntegerField(default=4)
    timeout_s = models.PositiveSmallIntegerField(default=60)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def to_dict(self) -> dict:
        return {"id": self.pk, "system": self.system_id, "name": self.name, "kind": self.kind,
                "base_url": self.base_url or None, "model_name": self.model_name or None,
                "api_key_set": bool(self.api_key_id), "concurrency": self.concurrency, "timeout_s": self.timeout_s,
                "sha256": self.model_artifact.sha256 if self.model_artifact_id else None,
                "model_version": self.model_version_id,
                "created": self.created.isoformat()}


class Bank(OrganizationOwned):
    """A named, versioned test bank of an organisation (its items live in BankVersion)."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    demo = models.BooleanField(default=False, help_text="Synthetic demo items written for Assay")
    version = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="%(app_label)s_%(class)s_name")]

    def __str__(self) -> str:
        return self.name

    def current(self):
        return self.versions.filter(number=self.version).first()


class BankVersion(models.Model):
    """One uploaded version of a bank: the file (encrypted), its parsed items and its coverage report."""

    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the items in canonical JSON")
    items = models.JSONField()
    coverage = models.JSONField(default=dict)
    n = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bank", "number"], name="%(app_label)s_%(class)s_number")]

    def to_dict(self) -> dict:
        return {"id": self.pk, "bank": self.bank_id, "name": self.bank.name, "version": self.number, "n": self.n,
                "sha256": self.sha256, "demo": self.bank.demo, "coverage": self.coverage,
                "created": self.created.isoformat()}


class Evaluation(Job):
    """A safety evaluation run of a target on bank versions (a job: core.jobs runs it)."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="+")
    target = models.ForeignKey(Target, on_delete=models.PROTECT, related_name="evaluations")
    bank_versions = models.ManyToManyField(BankVersion, related_name="+")
    seed = models.IntegerField(default=0)
    sizes = models.JSONField(default=dict, blank=True, help_text="Sample size per kind; the standard's by default")
    mutations = models.JSONField(default=list, blank=True)
    max_new_tokens = models.PositiveSmallIntegerField(default=64)
    review_sample = models.PositiveSmallIntegerField(default=20, help_text="Answers sampled for human review")
    result = models.JSONField(null=True, blank=True, help_text="The Result JSON of GENAI.md, without its items")
    verdicts_sha256 = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"Evaluation {self.pk}"


class EvaluationItem(models.Model):
    """One answer of an evaluation, its machine verdicts and, once reviewed, the human's."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="items")
    index = models.PositiveIntegerField()
    bank = models.CharField(max_length=200, blank=True)
    ref = models.CharField(max_length=200)
    kind = models.CharField(max_length=32)
    risk = models.CharField(max_length=64)
    language = models.CharField(max_length=16)
    mutation = models.CharField(max_length=32, blank=True)
    prompt = models.TextField()
    answer = models.TextField(blank=True)
    verdicts = models.JSONField(default=dict)
    verdict = models.CharField(max_length=16, choices=ItemVerdict.choices)
    in_review = models.BooleanField(default=False)
    human = models.CharField(max_length=8, choices=HumanVerdict.choices, blank=True)
    human_reason = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["evaluation", "index"], name="%(app_label)s_%(class)s_index")]

    def as_result(self) -> dict:
        """Return the item as the Result JSON lists it."""
        return {"id": self.ref, "bank": self.bank, "kind": self.kind, "risk": self.risk, "language": self.language,
                "mutation": self.mutation or None, "prompt": self.prompt, "answer": self.answer,
                "verdicts": {**self.verdicts, "human": self.human or None}, "verdict": self.verdict}

    def to_dict(self) -> dict:
        return {**self.as_result(), "index": self.index, "in_review": self.in_review,
                "human_reason": self.human_reason or None,
                "reviewed_by": getattr(self.reviewed_by, "username", None),
                "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None}
