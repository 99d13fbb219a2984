from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core import parsers as strict_json
from core.models import AuditLogEntry

from ..choices import DATASHEET_FIELDS, GENERATIVE_FORMATS, MODEL_CARD_FIELDS, Modality, ModelFormat
from ..models import AISystem, DatasetVersion, ModelVersion, Promotion


class JSONObjectField(serializers.JSONField):
    """A JSON object, given as an object (JSON body) or as a JSON string (multipart form)."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = strict_json.loads(data) if data.strip() else {}
            except ValueError as exc:  # not JSON, NaN/Infinity, too deep
                raise serializers.ValidationError(f"Not valid JSON: {getattr(exc, 'msg', exc)}") from None
        if not isinstance(data, dict):
            raise serializers.ValidationError("Expected a JSON object")
        return data


class StringListField(serializers.ListField):
    """A list of column names: repeated form fields, a JSON list, or one comma-separated string."""

    child = serializers.CharField(max_length=200)

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) == 1 and isinstance(data[0], str):
            data = data[0]
        if isinstance(data, str):
            text = data.strip()
            if text.startswith("["):
                try:
                    data = strict_json.loads(text)
                except ValueError as exc:
                    raise serializers.ValidationError(f"Not valid JSON: {getattr(exc, 'msg', exc)}") from None
            else:
                data = [part.strip() for part in text.split(",") if part.strip()]
        return super().to_internal_value(data)


class AISystemSerializer(serializers.ModelSerializer):
    organization = serializers.CharField(required=False, write_only=True, allow_blank=True,
                                         help_text="Organisation id or slug; omit when you belong to one")
    organization_id = serializers.IntegerField(read_only=True)
    output_modalities = serializers.ListField(child=serializers.ChoiceField(choices=Modality.choices), required=False)

    class Meta:
        model = AISystem
        fields = [
            "id", "organization", "organization_id", "name", "description", "intended_purpose", "domain",
            "annex_iii_point", "role", "output_modalities", "public_in_mainland_china", "public_opinion_capacity",
            "users_can_download", "general_purpose", "systemic_risk", "emotion_or_biometric",
            "placed_on_eu_market", "placed_before_2026_08_02", "placed_on_market_on", "significantly_changed",
            "art6_3_derogation", "public_sector", "interacts_with_persons", "biometric_editing",
            "no_public_opinion_reason", "current_model", "created", "updated",
        ]
        read_only_fields = ["id", "created", "updated"]
        validators = []  # name uniqueness is checked in the view, per organisation

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only this system's versions resolve, so ids of other organisations' models look like any unknown id.
        system = self.instance if isinstance(self.instance, AISystem) else None
        self.fields["current_model"].queryset = ModelVersion.objects.filter(system=system) if system else \
            ModelVersion.objects.none()


class DatasetVersionSerializer(serializers.ModelSerializer):
    sha256 = serializers.CharField(source="artifact.sha256", read_only=True)
    filename = serializers.CharField(source="artifact.filename", read_only=True)
    size = serializers.IntegerField(source="artifact.size", read_only=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "id", "organization_id", "system", "name", "version", "file_format", "filename", "size", "sha256",
            "features", "categorical", "target", "positive_label", "sensitive_attributes", "split_column",
            "test_size", "datasheet", "rows", "rows_train", "rows_eval", "columns", "created_by", "created",
        ]
        read_only_fields = fields


class DatasetUploadSerializer(serializers.Serializer):
    system = serializers.IntegerField()
    name = serializers.CharField(max_length=200)
    file = serializers.FileField()
    target = serializers.CharField(max_length=200)
    positive_label = serializers.CharField(max_length=200)
    features = StringListField(required=False, default=list)
    categorical = StringListField(required=False, allow_null=True, default=None)
    sensitive_attributes = StringListField(required=False, default=list)
    split_column = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    test_size = serializers.FloatField(required=False, default=0.3, min_value=0.01, max_value=0.99)
    datasheet = JSONObjectField(required=False, default=dict,
                                help_text=f"Datasheet fields: {', '.join(DATASHEET_FIELDS)}")


class ModelVersionSerializer(serializers.ModelSerializer):
    sha256 = serializers.CharField(source="artifact.sha256", read_only=True)
    filename = serializers.CharField(source="artifact.filename", read_only=True)
    size = serializers.IntegerField(source="artifact.size", read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id", "organization_id", "system", "name", "version", "format", "filename", "size", "sha256",
            "classes", "features", "model_card", "validated_on", "training_dataset", "parent", "dp",
            "created_by", "created",
        ]
        read_only_fields = fields


class ModelUploadSerializer(serializers.Serializer):
    system = serializers.IntegerField()
    name = serializers.CharField(max_length=200)
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=ModelFormat.choices)
    dataset_version = serializers.IntegerField(required=False, allow_null=True, default=None,
                                               help_text="Dataset version whose first 32 rows validate the model; "
                                                         "required except for gguf (a generative model, no dataset)")
    training_dataset_version = serializers.IntegerField(required=False, allow_null=True, default=None)
    model_card = JSONObjectField(required=False, default=dict,
                                 help_text=f"Model-card fields: {', '.join(MODEL_CARD_FIELDS)}")

    def validate(self, attrs):
        if attrs["dataset_version"] is None and attrs["format"] not in GENERATIVE_FORMATS:
            required = self.fields["dataset_version"].error_messages["required"]
            raise serializers.ValidationError({"dataset_version": [required]})
        return attrs


class AuditLogEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditLogEntry
        fields = ["id", "organization_id", "seq", "created", "actor_name", "action", "object_type", "object_id",
                  "payload", "prev_hash", "hash"]
        read_only_fields = fields


class AuditRunSerializer(serializers.ModelSerializer):
    class Meta:
        from ..models import AuditRun

        model = AuditRun
        fields = ["id", "organization_id", "model_version", "dataset_version", "config", "status", "progress",
                  "stage", "error", "device", "dimension_scores", "attempts", "cancel_requested", "created",
                  "started", "finished"]
        read_only_fields = fields


class AuditStartSerializer(serializers.Serializer):
    model_version = serializers.IntegerField()
    dataset_version = serializers.IntegerField()
    config = JSONObjectField(required=False, default=dict, help_text="Audit parameters (METRICS.md); defaults apply")


class PromoteSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(min_value=1, max_value=2**63 - 1,
                                             help_text="The model version (of this system) to make current")
    reason = serializers.CharField(max_length=2000, help_text="Why it is promoted; kept in the promotion history")


class PromotionSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(source="to_version_id", read_only=True)
    model_version_name = serializers.CharField(source="to_version.__str__", read_only=True)
    from_model_version = serializers.IntegerField(source="from_version_id", read_only=True, allow_null=True)
    from_model_version_name = serializers.SerializerMethodField()
    promoted_by = serializers.CharField(source="promoted_by_name", read_only=True)

    class Meta:
        model = Promotion
        fields = ["id", "organization_id", "system", "from_model_version", "from_model_version_name", "model_version",
                  "model_version_name", "reason", "promoted_by", "created"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_from_model_version_name(self, promotion) -> str | None:
        return str(promotion.from_version) if promotion.from_version_id else None
