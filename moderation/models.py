"""Keyword libraries, classifiers, versioned policies, decisions in chained batches, evaluations, gateways."""

import uuid

from django.conf import settings
from django.db import models

from accounts.models import OrganizationOwned
from audit.models import AISystem
from core.models import Artifact, Job

from .choices import DecisionSource, Outcome, PolicyAction

__all__ = ["KeywordLibrary", "KeywordEntry", "ModerationClassifier", "ModerationPolicy", "PolicyVersion",
           "DecisionBatch", "Decision", "ModerationEvaluation", "ModerationGateway"]


#
# Rules
#


class KeywordLibrary(OrganizationOwned):
    """An organisation's keyword list (keywords and regular expressions, each with a category and risk)."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    demo = models.BooleanField(default=False, help_text="Ships with Assay for the demo; not a real library")
    version = models.PositiveIntegerField(default=1, help_text="Bumped on every change of its entries")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="moderation_library_unique_name")]

    def __str__(self) -> str:
        return self.name


class KeywordEntry(models.Model):
    """One keyword or regular expression of a library."""

    library = models.ForeignKey(KeywordLibrary, on_delete=models.CASCADE, related_name="entries")
    ref = models.CharField(max_length=64, help_text="The entry's id in its file; reported with each match")
    text = models.CharField(max_length=1000)
    regex = models.BooleanField(default=False)
    category = models.CharField(max_length=32)
    risk = models.CharField(max_length=8, blank=True)
    language = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["library", "id"]
        constraints = [models.UniqueConstraint(fields=["library", "ref"], name="moderation_entry_unique_ref")]

    def __str__(self) -> str:
        return self.text


#
# Model
#


class ModerationClassifier(Job):
    """A text classifier trained by a job from a labelled CSV; the weights are a .npz artifact."""

    name = models.CharField(max_length=200)
    training_artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="+")
    model_artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    categories = models.JSONField(default=list, blank=True)
    stats = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def ready(self) -> bool:
        return self.model_artifact_id is not None


#
# Policies (a policy is a name; what it does is its newest version, immutable)
#


class ModerationPolicy(OrganizationOwned):
    """A named moderation policy of an organisation; its rules live in numbered, immutable versions."""

    name = models.CharField(max_length=200)
    is_default = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=0, help_text="The current version's number")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "-is_default", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="moderation_policy_unique_name"),
            models.UniqueConstraint(fields=["organization"], condition=models.Q(is_default=True),
                                    name="moderation_policy_one_default"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def current(self) -> "PolicyVersion":
        return self.versions.get(number=self.version)


class PolicyVersion(OrganizationOwned):
    """One version of a policy: libraries, PII detectors, classifier, thresholds, action, text kept or not."""

    policy = models.ForeignKey(ModerationPolicy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    config = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["policy", "-number"]
        constraints = [models.UniqueConstraint(fields=["policy", "number"], name="moderation_policy_version_unique")]

    def __str__(self) -> str:
        return f"{self.policy.name} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("A policy version is immutable: save a new version instead")
        super().save(*args, **kwargs)

    @property
    def action(self) -> str:
        return self.config.get("action", PolicyAction.FLAG)


#
# Decisions: written in batches from a spool (moderation/decisions.py), each batch chained to the previous
#


class DecisionBatch(OrganizationOwned):
    """Decisions written together: the SHA-256 of their records chained to the previous batch's hash."""

    seq = models.PositiveBigIntegerField()
    count = models.PositiveIntegerField()
    digest = models.CharField(max_length=64, help_text="SHA-256 over the decisions' record hashes, in order")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "-seq"]
        constraints = [models.UniqueConstraint(fields=["organization", "seq"], name="moderation_batch_unique_seq")]


class Decision(OrganizationOwned):
    """One moderated text: its hash, the result and policy version, the text only when the policy keeps it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=16, choices=DecisionSource.choices, default=DecisionSource.API)
    # No constraint: a deleted system leaves its id here, so that the decision's record hash still holds.
    system = models.ForeignKey(AISystem, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True,
                               related_name="+")
    input_sha256 = models.CharField(max_length=64, db_index=True)
    flagged = models.BooleanField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    categories = models.JSONField(default=list, help_text="The flagged categories")
    scores = models.JSONField(default=dict)
    risks = models.JSONField(default=list)
    rules = models.JSONField(default=list, help_text="Matched rules: type, id, category, risk, span")
    text = models.TextField(blank=True)
    created = models.DateTimeField(help_text="When the call was moderated")
    record_hash = models.CharField(max_length=64)
    batch = models.ForeignKey(DecisionBatch, on_delete=models.SET_NULL, null=True, related_name="decisions")

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["organization", "-created"], name="moderation_decision_recent")]


#
# Evaluations and the gateway
#


class ModerationEvaluation(OrganizationOwned):
    """Precision, recall and F1 of one policy version on a labelled set."""

    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="evaluations")
    name = models.CharField(max_length=255, blank=True)
    data_sha256 = models.CharField(max_length=64)
    n = models.PositiveIntegerField()
    results = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]


class ModerationGateway(OrganizationOwned):
    """The OpenAI-compatible proxy in front of one system's chat-completions endpoint."""

    system = models.OneToOneField(AISystem, on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(ModerationPolicy, on_delete=models.PROTECT, related_name="+")
    base_url = models.CharField(max_length=500, help_text="The endpoint's base URL; /chat/completions is appended")
    model_name = models.CharField(max_length=200, blank=True, help_text="Sent as `model` (empty: the caller's)")
    api_key = models.ForeignKey(Artifact, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                help_text="The endpoint's API key, encrypted; never shown again")
    timeout_s = models.FloatField(default=30.0)
    max_retries = models.PositiveSmallIntegerField(default=2)
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"gateway of system {self.system_id}"
