from rest_framework import serializers

from .. import vocabulary as v
from ..models import Assessment, Attestation, EvidenceDocument


class AttestationSerializer(serializers.ModelSerializer):
    file = serializers.SerializerMethodField()
    valid = serializers.SerializerMethodField()

    class Meta:
        model = Attestation
        fields = ["id", "organization", "system", "item_id", "text", "attested_by_name", "attested_at", "expires_at",
                  "revoked", "valid", "file"]

    def get_file(self, obj) -> dict | None:
        a = obj.artifact
        return {"filename": a.filename, "sha256": a.sha256, "size": a.size} if a else None

    def get_valid(self, obj) -> bool:
        from django.utils import timezone

        return obj.revoked is None and obj.expires_at > timezone.now()


class AttestationCreateSerializer(serializers.Serializer):
    system = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    item_id = serializers.CharField(max_length=40)
    text = serializers.CharField(max_length=20_000)
    valid_days = serializers.IntegerField(min_value=1, max_value=3660, required=False)
    file = serializers.FileField(required=False)


class EvidenceDocumentSerializer(serializers.ModelSerializer):
    file = serializers.SerializerMethodField()

    class Meta:
        model = EvidenceDocument
        fields = ["id", "organization", "system", "kind", "title", "reference", "created", "withdrawn", "file"]

    def get_file(self, obj) -> dict | None:
        a = obj.artifact
        return {"filename": a.filename, "sha256": a.sha256, "size": a.size} if a else None


class DocumentCreateSerializer(serializers.Serializer):
    system = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    kind = serializers.ChoiceField(choices=list(v.DOCUMENT_KINDS))
    title = serializers.CharField(max_length=200)
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    file = serializers.FileField(required=False)


class AssessmentSerializer(serializers.ModelSerializer):
    summary = serializers.SerializerMethodField()

    class Meta:
        model = Assessment
        fields = ["id", "organization", "system", "frameworks", "framework_versions", "evaluated_on", "sha256",
                  "content_hmac", "created", "summary"]

    def get_summary(self, obj) -> dict:
        return {c["framework"]: c["summary"] for c in obj.content.get("checklists", [])}


class AssessmentCreateSerializer(serializers.Serializer):
    frameworks = serializers.ListField(child=serializers.ChoiceField(choices=list(v.BUNDLES)), required=False,
                                       allow_empty=False)
    framework = serializers.CharField(required=False, help_text="one framework (eu_ai_act or cn_genai)")
    date = serializers.DateField(required=False)
