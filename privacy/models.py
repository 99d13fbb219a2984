"""DP training runs: a differentially-private variant of a zoo model version, trained by a worker."""

from django.db import models

from audit.models import AuditRun, DatasetVersion, ModelVersion
from core.models import Job

from .choices import Accountant

__all__ = ["DPTrainingRun"]


class DPTrainingRun(Job):
    """One DP-SGD training of a zoo model version's architecture on a dataset version's training rows.

    The parameters are what was asked (a target ε or a noise multiplier, never both); `result`
    is what training spent and measured, and `result_model` the new model version it registered
    (its parent is `model_version`), which `audit` audits on the same dataset version.
    """

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="dp_trainings",
                                      help_text="The non-private parent whose architecture is trained")
    dataset_version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="dp_trainings",
                                        help_text="Trained on its training split, audited on its evaluation split")
    sweep = models.UUIDField(null=True, blank=True, db_index=True, help_text="Runs started by one sweep request")
    epsilon = models.FloatField(null=True, blank=True, help_text="Target ε (None when a noise multiplier is given)")
    noise_multiplier = models.FloatField(null=True, blank=True, help_text="Given σ (None when a target ε is given)")
    delta = models.FloatField()
    max_grad_norm = models.FloatField(default=1.0)
    epochs = models.PositiveIntegerField(default=5)
    batch_size = models.PositiveIntegerField(default=256)
    lr = models.FloatField(default=1e-3)
    seed = models.PositiveBigIntegerField(default=0)
    accountant = models.CharField(max_length=8, choices=Accountant.choices, default=Accountant.PRV)
    n_train = models.PositiveIntegerField(help_text="Complete training rows: the δ < 1/n bound and q = B/n use it")
    result = models.JSONField(null=True, blank=True,
                              help_text="ε spent, σ, sample rate, steps, accuracy, parent accuracy, seconds per epoch")
    result_model = models.OneToOneField(ModelVersion, on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="dp_training")
    audit = models.ForeignKey(AuditRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        target = f"ε={self.epsilon:g}" if self.epsilon is not None else f"σ={self.noise_multiplier:g}"
        return f"DP training {self.pk} of {self.model_version} ({target})"
