from rest_framework import serializers

from ..choices import Corner
from ..models import ProvenanceRecord, WatermarkBatch, WatermarkPolicy

LAYER_HELP = "Override the organisation's policy for this layer (omit to follow it)"


class StampOptionsForm(serializers.Serializer):
    organization = serializers.CharField(required=False, allow_blank=True,
                                         help_text="Organisation id or slug; omit when you belong to one")
    system = serializers.IntegerField(required=False, allow_null=True, help_text="AI system id (provenance)")
    model_version = serializers.CharField(required=False, allow_blank=True, max_length=200, default="",
                                          help_text="The generating model's version (provenance)")
    text = serializers.CharField(required=False, allow_blank=True, max_length=40, help_text="Explicit label text")
    corner = serializers.ChoiceField(choices=Corner.choices, required=False)
    format = serializers.ChoiceField(choices=["png", "jpeg", "jpg", "webp"], required=False,
                                     help_text="Output format; the input's by default")
    visible = serializers.BooleanField(required=False, allow_null=True, default=None, help_text=LAYER_HELP)
    metadata = serializers.BooleanField(required=False, allow_null=True, default=None, help_text=LAYER_HELP)
    c2pa = serializers.BooleanField(required=False, allow_null=True, default=None, help_text=LAYER_HELP)
    invisible = serializers.BooleanField(required=False, allow_null=True, default=None, help_text=LAYER_HELP)


class StampForm(StampOptionsForm):
    file = serializers.FileField(help_text="One PNG, JPEG or WebP image")


class BatchForm(StampOptionsForm):
    files = serializers.ListField(child=serializers.FileField(), allow_empty=False,
                                 help_text="Images, or one zip of images")


class VerifyForm(serializers.Serializer):
    file = serializers.FileField(help_text="The image to verify")
    organization = serializers.CharField(required=False, allow_blank=True,
                                         help_text="Try only this organisation's keys (default: all of yours)")


class ProvenanceRecordSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    produce_id = serializers.CharField(source="produce_id_text", read_only=True)
    downloadable = serializers.SerializerMethodField()

    class Meta:
        model = ProvenanceRecord
        fields = ["id", "organization", "produce_id", "payload", "system", "model_version", "producer", "layers",
                  "label", "aigc", "c2pa", "input_sha256", "output_sha256", "pixel_sha256", "format", "width",
                  "height", "filename", "source", "batch", "created_by_name", "created", "downloadable"]

    def get_downloadable(self, obj) -> bool:
        return obj.output_artifact_id is not None


class WatermarkBatchSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    download = serializers.SerializerMethodField()

    class Meta:
        model = WatermarkBatch
        fields = ["id", "organization", "mode", "system", "model_version", "options", "status", "progress", "stage",
                  "total", "done", "failed", "results", "error", "cancel_requested", "created", "started", "finished",
                  "download"]

    def get_download(self, obj) -> str | None:
        return f"/api/v1/watermark/batches/{obj.pk}/download" if obj.result_artifact_id else None


class WatermarkPolicySerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = WatermarkPolicy
        fields = ["id", "organization", "system", "visible", "metadata", "c2pa", "invisible", "label_text", "corner",
                  "producer_code", "updated"]
        read_only_fields = ["id", "organization", "system", "updated"]
