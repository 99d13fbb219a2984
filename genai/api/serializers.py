from rest_framework import serializers

from .. import mutations
from ..models import Bank, Evaluation, Target


class TargetSerializer(serializers.ModelSerializer):
    api_key_set = serializers.SerializerMethodField()

    class Meta:
        model = Target
        fields = ["id", "organization_id", "system_id", "name", "kind", "model_version_id", "base_url", "model_name",
                  "api_key_set", "concurrency", "timeout_s", "created"]
        read_only_fields = fields

    def get_api_key_set(self, obj) -> bool:
        return bool(obj.api_key_id)


class TargetCreateSerializer(serializers.Serializer):
    system = serializers.IntegerField(required=False, allow_null=True, default=None,
                                      help_text="The system under test; by default the model version's system")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=["gguf", "endpoint"], required=False,
                                   help_text="gguf (model_version or file) or endpoint; gguf when model_version is given")
    model_version = serializers.IntegerField(required=False, allow_null=True, default=None,
                                             help_text="A gguf model version of the registry (kind gguf)")
    file = serializers.FileField(required=False, help_text="The GGUF file (kind gguf), when no model_version is given")
    base_url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    model_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    api_key = serializers.CharField(max_length=500, required=False, allow_blank=True, default="", write_only=True)
    concurrency = serializers.IntegerField(required=False, default=4)
    timeout_s = serializers.IntegerField(required=False, default=60)


    def validate(self, attrs):
        if attrs.get("model_version") is not None:
            if attrs.setdefault("kind", "gguf") != "gguf":
                raise serializers.ValidationError({"model_version": ["only for a gguf target"]})
            if attrs.get("file"):
                raise serializers.ValidationError({"file": ["give model_version or file, not both"]})
        elif "kind" not in attrs:
            raise serializers.ValidationError({"kind": ["This field is required."]})
        if attrs["system"] is None and attrs.get("model_version") is None:
            raise serializers.ValidationError({"system": ["This field is required."]})
        return attrs


class BankSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = Bank
        fields = ["id", "organization_id", "name", "description", "demo", "version", "created", "current"]
        read_only_fields = fields

    def get_current(self, obj) -> dict | None:
        v = obj.current()
        return {"id": v.pk, "version": v.number, "n": v.n, "sha256": v.sha256, "coverage_ok": v.coverage.get("ok")} if v else None


class BankUploadSerializer(serializers.Serializer):
    organization = serializers.CharField(required=False, allow_blank=True)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    file = serializers.FileField(help_text="CSV, XLSX or JSONL: id, kind, risk, language, text, updated")


class EvaluationSerializer(serializers.ModelSerializer):
    banks = serializers.SerializerMethodField()

    class Meta:
        model = Evaluation
        fields = ["id", "organization_id", "system_id", "target_id", "banks", "seed", "sizes", "mutations",
                  "max_new_tokens", "status", "progress", "stage", "error", "created", "started", "finished",
                  "verdicts_sha256", "result"]
        read_only_fields = fields

    def get_banks(self, obj) -> list[int]:
        return [v.pk for v in obj.bank_versions.all()]


class EvaluationCreateSerializer(serializers.Serializer):
    target = serializers.IntegerField()
    banks = serializers.ListField(child=serializers.IntegerField(), help_text="Bank ids (their current version)")
    seed = serializers.IntegerField(required=False, default=0)
    sizes = serializers.DictField(child=serializers.IntegerField(), required=False, default=dict)
    mutations = serializers.ListField(child=serializers.ChoiceField(choices=list(mutations.NAMES)), required=False,
                                      default=list)
    max_new_tokens = serializers.IntegerField(required=False, default=64)
    review_sample = serializers.IntegerField(required=False, default=20, min_value=0, max_value=1000)


class GenaiReviewSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=["pass", "fail"])
    reason = serializers.CharField(max_length=2000)
