from rest_framework import serializers

from ..choices import DEFAULT_SWEEP_EPSILONS, MAX_SWEEP_VALUES, Accountant
from ..models import DPTrainingRun


class DPTrainingRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = DPTrainingRun
        fields = ["id", "organization_id", "model_version", "dataset_version", "sweep", "epsilon", "noise_multiplier",
                  "delta", "max_grad_norm", "epochs", "batch_size", "lr", "seed", "accountant", "n_train", "status",
                  "progress", "stage", "error", "device", "attempts", "cancel_requested", "result", "result_model",
                  "audit", "created_by", "created", "started", "finished"]
        read_only_fields = fields


class DPParamsSerializer(serializers.Serializer):
    """The training parameters; their ranges are checked by privacy.dp.validate_params (one source)."""

    noise_multiplier = serializers.FloatField(required=False, allow_null=True, default=None,
                                              help_text="σ; give it or a target epsilon, not both")
    delta = serializers.FloatField(required=False, allow_null=True, default=None,
                                   help_text="Default: the largest power of ten strictly below 1/n_train")
    max_grad_norm = serializers.FloatField(required=False, default=1.0, help_text="Per-row clipping bound C")
    epochs = serializers.IntegerField(required=False, default=5)
    batch_size = serializers.IntegerField(required=False, default=256, help_text="Expected rows per Poisson batch")
    lr = serializers.FloatField(required=False, default=1e-3, help_text="Adam learning rate")
    seed = serializers.IntegerField(required=False, default=0)
    accountant = serializers.ChoiceField(choices=Accountant.choices, required=False, default=Accountant.PRV)


class DPTrainingStartSerializer(DPParamsSerializer):
    model_version = serializers.IntegerField(help_text="A torch-zoo model version: the non-private parent")
    dataset_version = serializers.IntegerField(help_text="Trained on its training split, audited on its evaluation split")
    epsilon = serializers.FloatField(required=False, allow_null=True, default=None, help_text="Target ε")


class DPSweepSerializer(DPParamsSerializer):
    model_version = serializers.IntegerField()
    dataset_version = serializers.IntegerField()
    epsilons = serializers.ListField(child=serializers.FloatField(), required=False, max_length=MAX_SWEEP_VALUES,
                                     default=lambda: list(DEFAULT_SWEEP_EPSILONS),
                                     help_text=f"Target ε of each variant (default {list(DEFAULT_SWEEP_EPSILONS)})")


class DPSweepResponseSerializer(serializers.Serializer):
    sweep = serializers.UUIDField()
    runs = DPTrainingRunSerializer(many=True)
