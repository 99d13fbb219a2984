"""The registry (AI systems, dataset and model versions) and audit runs."""

from django.conf import settings
from django.db import models

from accounts.models import OrganizationOwned
from core.models import Artifact, Job

from .choices import DataFormat, Domain, ModelFormat, ProviderRole
from .results import AuditResults, GroupTable, MetricView

__all__ = ["AISystem", "DatasetVersion", "ModelVersion", "Promotion", "AuditRun", "MetricResult"]


#
# AI systems
#


class AISystem(OrganizationOwned):
    """An AI system an organisation provides or deploys; its profile drives compliance applicability."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    intended_purpose = models.TextField(blank=True)
    domain = models.CharField(max_length=64, choices=Domain.choices, default=Domain.OTHER)
    annex_iii_point = models.CharField(max_length=16, blank=True, help_text='e.g. "5(b)"')
    role = models.CharField(max_length=16, choices=ProviderRole.choices, default=ProviderRole.PROVIDER)
    output_modalities = models.JSONField(default=list, blank=True)
    public_in_mainland_china = models.BooleanField(default=False)
    public_opinion_capacity = models.BooleanField(default=False)
    users_can_download = models.BooleanField(default=False)
    general_purpose = models.BooleanField(default=False)
    systemic_risk = models.BooleanField(default=False)
    emotion_or_biometric = models.BooleanField(
        default=False, help_text="Uses emotion recognition or biometric categorisation"
    )
    placed_on_eu_market = models.BooleanField(default=False)
    placed_before_2026_08_02 = models.BooleanField(default=False)
    # Compliance profile (COMPLIANCE.md Appendix 2, A2.1-A2.3)
    placed_on_market_on = models.DateField(null=True, blank=True,
                                           help_text="When the system was first placed on the market (Art. 111)")
    significantly_changed = models.BooleanField(
        default=False, help_text="Significantly changed in design after the high-risk date (Art. 111(2))")
    art6_3_derogation = models.BooleanField(
        default=False, help_text="Relies on the Art. 6(3) derogation (not high-risk despite Annex III)")
    public_sector = models.CharField(
        max_length=24, blank=True, default="",
        choices=[("", "No"), ("public_body", "Public body"), ("public_service", "Private provider of public services")],
        help_text="The deployer is a public body or a private provider of public services (Art. 27(1), 49(3))")
    interacts_with_persons = models.BooleanField(
        default=False, help_text="Intended to interact directly with natural persons (Art. 50(1))")
    biometric_editing = models.BooleanField(
        default=False, help_text="Can edit faces, voices or other biometric features (DS Art. 14-15)")
    no_public_opinion_reason = models.TextField(
        blank=True, help_text="Why the service has no public-opinion attribute or mobilisation capacity "
                              "(without a reason the Chinese filing items apply)")
    current_model = models.ForeignKey(
        "ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="audit_aisystem_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


#
# Versions (immutable: a new upload is a new version)
#


class VersionBase(OrganizationOwned):
    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None and not getattr(self, "_allow_update", False):
            raise ValueError(f"{type(self).__name__} is immutable: upload a new version instead")
        super().save(*args, **kwargs)


class DatasetVersion(VersionBase):
    """A CSV or Parquet file with its schema and datasheet; immutable."""

    file_format = models.CharField(max_length=16, choices=DataFormat.choices)
    features = models.JSONField(help_text="Model input columns, in order")
    categorical = models.JSONField(default=list)
    target = models.CharField(max_length=200)
    positive_label = models.CharField(max_length=200)
    sensitive_attributes = models.JSONField(default=list)
    split_column = models.CharField(max_length=200, blank=True)
    test_size = models.FloatField(default=0.3)
    datasheet = models.JSONField(default=dict, blank=True)
    rows = models.PositiveIntegerField(default=0)
    rows_train = models.PositiveIntegerField(default=0)
    rows_eval = models.PositiveIntegerField(default=0)
    columns = models.JSONField(default=list)
    labels = models.JSONField(default=list, blank=True, help_text="Distinct target values (as text), sorted")

    class Meta:
        ordering = ["system", "name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["system", "name", "version"], name="audit_datasetversion_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class ModelVersion(VersionBase):
    """A model file in one of the safe formats, with its model card; immutable."""

    format = models.CharField(max_length=16, choices=ModelFormat.choices)
    classes = models.JSONField(default=list)
    features = models.JSONField(default=list)
    model_card = models.JSONField(default=dict, blank=True)
    validated_on = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, null=True, related_name="+")
    training_dataset = models.ForeignKey(
        DatasetVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    dp = models.JSONField(null=True, blank=True, help_text="DP training record (epsilon, delta, accountant …)")

    class Meta:
        ordering = ["system", "name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["system", "name", "version"], name="audit_modelversion_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.format})"


#
# Promotions
#


class Promotion(OrganizationOwned):
    """A model version made its system's current model: who, when, why, and which version it replaced.

    The current model is the one compliance items, schedules and reports read, so every change of it
    is an explicit, reasoned act (audit.services.promote_model); rows are never edited.
    """

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="promotions")
    from_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", help_text="The current model before (none for the first)")
    to_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="promotions",
                                   help_text="The model version made current")
    reason = models.TextField(help_text="Why it was promoted, in the promoter's words")
    promoted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                    related_name="+")
    promoted_by_name = models.CharField(max_length=150, blank=True, help_text="Kept when the user is deleted")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.to_version} promoted in {self.system}"


#
# Audit runs
#


class AuditRun(Job):
    """One audit of a model version on a dataset version: the 23 metrics of METRICS.md."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="audits")
    dataset_version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="audits")
    config = models.JSONField(default=dict)
    result = models.JSONField(null=True, blank=True, help_text="The Result JSON of METRICS.md")
    dimension_scores = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"Audit {self.pk} of {self.model_version}"

    @property
    def results(self) -> AuditResults:
        """Return the read model of `result` (empty, answering None and {}, until the run succeeds)."""
        return AuditResults(self.result)

    def metric(self, metric_id: str) -> MetricView | None:
        """Return one metric of the result, or None when the run has none (not run, or not succeeded)."""
        return self.results.metric(metric_id)

    def group_table(self, metric_id: str, cls: str | None = None) -> dict[str, GroupTable]:
        """Return {attribute: GroupTable} of a fairness metric; a multi-class audit gives class `cls` or the worst."""
        return self.results.group_table(metric_id, cls)

    @property
    def accuracy(self) -> float | None:
        """Return the accuracy on the evaluation rows the audit recorded, or None (not succeeded, not recorded)."""
        return self.results.accuracy


class MetricResult(models.Model):
    """One metric of one audit run: a queryable index written with `AuditRun.result`; read results through
    `AuditRun.results` (audit/results.py)."""

    audit_run = models.ForeignKey(AuditRun, on_delete=models.CASCADE, related_name="metrics")
    metric_id = models.CharField(max_length=16)
    dimension = models.CharField(max_length=32)
    value = models.FloatField(null=True)
    status = models.CharField(max_length=16)
    reason = models.TextField(blank=True, null=True)
    details = models.JSONField(default=dict)
    duration_s = models.FloatField(default=0)

    class Meta:
        ordering = ["audit_run", "metric_id"]
        constraints = [
            models.UniqueConstraint(fields=["audit_run", "metric_id"], name="audit_metricresult_unique")
        ]


class ThresholdPolicy(models.Model):
    """An organisation's overrides of the catalog's pass/warn thresholds (METRICS.md amendments).

    `overrides` maps a metric id to {"pass": x, "warn": y} and/or {"informational": true};
    metrics not named keep the catalog's thresholds. Each audit records the thresholds it used.
    """

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE,
                                        related_name="threshold_policy")
    overrides = models.JSONField(default=dict, blank=True)
    updated = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    def __str__(self) -> str:
        return f"thresholds of {self.organization}"
