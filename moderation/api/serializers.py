from rest_framework import serializers

from ..models import (
    Decision,
    KeywordEntry,
    KeywordLibrary,
    ModerationClassifier,
    ModerationEvaluation,
    ModerationGateway,
    ModerationPolicy,
    PolicyVersion,
)


class KeywordLibrarySerializer(serializers.ModelSerializer):
    entries = serializers.IntegerField(source="entries.count", read_only=True)

    class Meta:
        model = KeywordLibrary
        fields = ["id", "organization_id", "name", "description", "demo", "version", "entries", "created", "updated"]
        read_only_fields = fields


class KeywordEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = KeywordEntry
        fields = ["id", "ref", "text", "regex", "category", "risk", "language"]
        read_only_fields = ["id"]
        extra_kwargs = {"ref": {"required": False}, "risk": {"required": False}, "language": {"required": False}}


class LibraryUploadSerializer(serializers.Serializer):
    organization = serializers.CharField(required=False, allow_blank=True)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    file = serializers.FileField(help_text="CSV, XLSX or JSONL: text (or keyword), category and/or risk; id, "
                                          "language, regex (or kind: keyword|regex) optional")


class FileSerializer(serializers.Serializer):
    file = serializers.FileField()


class PolicyVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PolicyVersion
        fields = ["id", "number", "config", "created_by", "created"]
        read_only_fields = fields


class ModerationPolicySerializer(serializers.ModelSerializer):
    config = serializers.SerializerMethodField()

    class Meta:
        model = ModerationPolicy
        fields = ["id", "organization_id", "name", "is_default", "version", "config", "created", "updated"]
        read_only_fields = fields

    def get_config(self, obj) -> dict:
        return obj.current().config


class PolicyConfigSerializer(serializers.Serializer):
    libraries = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=100)
    pii = serializers.ListField(child=serializers.CharField(), required=False, max_length=10)
    classifier = serializers.IntegerField(required=False, allow_null=True)
    thresholds = serializers.DictField(child=serializers.FloatField(), required=False)
    action = serializers.CharField(required=False)
    keep_text = serializers.BooleanField(required=False)


class PolicyCreateSerializer(PolicyConfigSerializer):
    organization = serializers.CharField(required=False, allow_blank=True)
    name = serializers.CharField(max_length=200)


class ModerationClassifierSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModerationClassifier
        fields = ["id", "organization_id", "name", "status", "progress", "stage", "error", "categories", "stats",
                  "created", "started", "finished"]
        read_only_fields = fields


class ClassifierUploadSerializer(serializers.Serializer):
    organization = serializers.CharField(required=False, allow_blank=True)
    name = serializers.CharField(max_length=200)
    file = serializers.FileField(help_text="Labelled set: columns text and categories (';'-separated, empty = harmless)")


class ModerationEvaluationSerializer(serializers.ModelSerializer):
    policy = serializers.IntegerField(source="policy_version.policy_id", read_only=True)
    policy_version = serializers.IntegerField(source="policy_version.number", read_only=True)

    class Meta:
        model = ModerationEvaluation
        fields = ["id", "organization_id", "policy", "policy_version", "name", "data_sha256", "n", "results",
                  "created"]
        read_only_fields = fields


class EvaluationUploadSerializer(serializers.Serializer):
    policy = serializers.IntegerField(required=False)
    organization = serializers.CharField(required=False, allow_blank=True)
    file = serializers.FileField(required=False)
    items = serializers.ListField(child=serializers.DictField(), required=False, max_length=20000,
                                  help_text='[{"text": …, "categories": ["violence", …]}] instead of a file')


class DecisionSerializer(serializers.ModelSerializer):
    policy = serializers.IntegerField(source="policy_version.policy_id", read_only=True)
    policy_version = serializers.IntegerField(source="policy_version.number", read_only=True)
    batch_seq = serializers.IntegerField(source="batch.seq", read_only=True, allow_null=True)

    class Meta:
        model = Decision
        fields = ["id", "organization_id", "policy", "policy_version", "source", "system", "input_sha256", "flagged",
                  "outcome", "categories", "scores", "risks", "rules", "text", "created", "record_hash", "batch_seq"]
        read_only_fields = fields


class GatewaySerializer(serializers.ModelSerializer):
    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                    help_text="Stored encrypted; never shown again")
    api_key_set = serializers.SerializerMethodField()

    class Meta:
        model = ModerationGateway
        fields = ["id", "organization_id", "system", "policy", "base_url", "model_name", "api_key", "api_key_set",
                  "timeout_s", "max_retries", "enabled", "created", "updated"]
        read_only_fields = ["id", "organization_id", "created", "updated", "api_key_set"]

    def get_api_key_set(self, obj) -> bool:
        return obj.api_key_id is not None
