"""Training a moderation classifier as a job: the labelled CSV is stored, a worker trains and stores the
weights as a .npz artifact (classifier.py), never a pickle."""

from __future__ import annotations

from django.db import transaction

from core import artifacts, auditlog
from core.choices import JobStatus
from core.jobs import JobRunner, finish, run_job

from . import services
from .choices import CATEGORIES
from .models import ModerationClassifier


def start_training(organization, *, name: str, data: bytes, filename: str, user=None,
                   enqueue: bool = True) -> ModerationClassifier:
    """Check the labelled set, store it, create a queued job and enqueue it once the transaction commits."""
    texts, _, _ = services.parse_labelled(services.read_rows(data, filename))
    if not name.strip():
        raise services.ModerationError("Name the classifier", {"name": "required"})
    with transaction.atomic():
        artifact = artifacts.store(data, organization=organization, filename=filename or "labelled.csv")
        row = ModerationClassifier.objects.create(organization=organization, name=name.strip()[:200],
                                                  training_artifact=artifact, created_by=user)
        auditlog.record("moderation.classifier.train", organization=organization, actor=user, obj=row,
                        payload={"examples": len(texts), "data_sha256": artifact.sha256})
        if enqueue:
            TrainingRunner.enqueue(row)
    return row


class TrainingRunner(JobRunner):
    """Train one classifier from its stored labelled set."""

    model = ModerationClassifier
    task_name = "assay.moderation.train_classifier"
    failure_action = "moderation.classifier.fail"
    label = "Moderation classifier"
    queue = "cpu"
    related = ("organization", "training_artifact")

    def compute(self, row: ModerationClassifier, progress, should_cancel):
        from .classifier import train

        progress(5, "reading the labelled set")
        data = artifacts.read(row.training_artifact)
        texts, labels, _ = services.parse_labelled(services.read_rows(data, row.training_artifact.filename))
        return train(texts, labels, CATEGORIES, progress=progress)

    def store(self, row: ModerationClassifier, model) -> None:
        with transaction.atomic():
            artifact = artifacts.store(model.to_bytes(), organization=row.organization,
                                       filename=f"moderation-classifier-{row.pk}.npz")
            if finish(ModerationClassifier, row.pk, JobStatus.SUCCEEDED, model_artifact=artifact,
                      categories=model.categories, stats=model.stats, stage="done"):
                auditlog.record("moderation.classifier.succeed", organization=row.organization, actor="worker",
                                obj=row, payload={"categories": model.categories, "sha256": artifact.sha256})


def execute_training(pk: int) -> bool:
    return run_job(TrainingRunner, pk)
