"""Serializers of schedules and reports (/api/v1/schedules, /api/v1/reports)."""

from rest_framework import serializers

from accounts.permissions import MAX_ID
from audit.api.serializers import JSONObjectField

from ..choices import ScheduleKind
from ..models import Report
from ..services import verify_report


class IdListField(serializers.ListField):
    """A list of related ids, read from a many-to-many manager (a schedule's banks)."""

    def get_attribute(self, instance):
        return sorted(getattr(instance, self.source).values_list("pk", flat=True))


class ScheduleSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    organization_id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=ScheduleKind.choices, required=False, default=ScheduleKind.AUDIT,
                                   help_text="audit (a model on a dataset) or genai (a target on banks)")
    system = serializers.IntegerField(source="system_id", min_value=1, max_value=MAX_ID, help_text="The AI system audited")
    model_version = serializers.IntegerField(source="model_version_id", required=False, allow_null=True,
                                             min_value=1, max_value=MAX_ID,
                                             default=None, help_text="Empty: the system's current model at run time")
    dataset_version = serializers.IntegerField(source="dataset_version_id", required=False, allow_null=True,
                                               default=None, min_value=1, max_value=MAX_ID,
                                               help_text="What an audit schedule audits on (kind audit)")
    target = serializers.IntegerField(source="target_id", required=False, allow_null=True, default=None, min_value=1,
                                      max_value=MAX_ID, help_text="The generative target evaluated (kind genai)")
    banks = IdListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, default=list,
                        max_length=20, help_text="Bank ids (kind genai); each bank's current version at run time")
    cron = serializers.CharField(max_length=120, required=False, allow_blank=True, default="",
                                 help_text='Five cron fields in UTC, e.g. "0 6 * * 1"; or give interval_seconds')
    interval_seconds = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1,
                                                max_value=366 * 24 * 3600)
    config = JSONObjectField(required=False, default=dict,
                             help_text="Audit parameters (METRICS.md); for kind genai: sample (prompts per kind), seed, "
                                       "max_new_tokens, mutations, review_sample, lang (zh or en, the report's)")
    recipients = serializers.ListField(child=serializers.EmailField(), required=False, default=list)
    webhook_url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    webhook_secret = serializers.CharField(max_length=200, required=False, allow_blank=True, default="",
                                           write_only=True, help_text="HMAC-SHA256 key; never shown again")
    has_webhook_secret = serializers.SerializerMethodField()
    enabled = serializers.BooleanField(required=False, default=True)
    periodic_task = serializers.IntegerField(source="periodic_task_id", read_only=True, allow_null=True)
    created = serializers.DateTimeField(read_only=True)
    updated = serializers.DateTimeField(read_only=True)

    def get_has_webhook_secret(self, obj) -> bool:
        return bool(obj.webhook_secret)


class ReportSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text="audit, or failure (the audit did not succeed)")
    size = serializers.IntegerField(source="artifact.size", read_only=True)
    pdf = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = ["id", "organization_id", "system", "schedule", "audit_run", "previous", "kind", "title",
                  "alerts", "changed", "sha256", "pdf_hmac", "content_hmac", "size", "pdf", "created"]
        read_only_fields = fields

    def get_pdf(self, obj) -> str:
        return f"/api/v1/reports/{obj.pk}/pdf"


class ReportDetailSerializer(ReportSerializer):
    facts = serializers.SerializerMethodField()
    integrity = serializers.SerializerMethodField()

    class Meta(ReportSerializer.Meta):
        fields = ReportSerializer.Meta.fields + ["facts", "integrity"]
        read_only_fields = fields

    def get_integrity(self, obj) -> dict:
        """Whether the JSON content and the PDF still match their keyed hashes (content_hmac, pdf_hmac)."""
        return verify_report(obj)

    def get_facts(self, obj) -> dict:
        """Return what the report shows, without the chart SVGs."""
        return {k: v for k, v in obj.content.items() if k != "charts"}
