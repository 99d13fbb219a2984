"""The moderation demo: the default policy (PII + demo keywords), a classifier trained on the demo set,
a policy that uses both, and an evaluation of it, so that the moderation page works at once."""

from __future__ import annotations

import csv
import io

from core.jobs import run_job

from . import jobs, services
from .models import ModerationClassifier, ModerationEvaluation, ModerationPolicy

DEMO_SET = services.DEMO_DATA / "demo_labelled.csv"
DEMO_CLASSIFIER = "Demo classifier (EN+ZH)"
DEMO_POLICY = "Demo: rules + classifier"


def load_demo(organization, user) -> ModerationPolicy:
    """Create (idempotently) the demo's moderation objects; return the demo policy."""
    default = services.default_policy(organization, user)
    library = services.demo_library(organization, user)
    classifier = ModerationClassifier.objects.filter(organization=organization, name=DEMO_CLASSIFIER,
                                                     model_artifact__isnull=False).first()
    train, held_out = split_demo_set()
    if classifier is None:
        classifier = jobs.start_training(organization, name=DEMO_CLASSIFIER, data=train,
                                         filename="demo_labelled-train.csv", user=user, enqueue=False)
        run_job(jobs.TrainingRunner, classifier.pk)  # in this process: the demo works without a worker
        classifier.refresh_from_db()
    policy = ModerationPolicy.objects.filter(organization=organization, name=DEMO_POLICY).first()
    if policy is None and classifier.ready:
        # privacy at 1.0: personal information is the PII detectors' call (a rule scores 1.0), not the
        # classifier's, which learns "ID number" from 70 sentences and would flag a near miss.
        policy = services.create_policy(organization, name=DEMO_POLICY, user=user, config={
            "libraries": [library.pk], "classifier": classifier.pk, "action": "mask",
            "thresholds": {"privacy": 1.0}})
    policy = policy or default
    if not ModerationEvaluation.objects.filter(policy_version__policy=policy).exists():
        services.run_evaluation(policy, data=held_out, filename="demo_labelled-held-out.csv", user=user)
    return policy


def split_demo_set() -> tuple[bytes, bytes]:
    """Return the demo set's training rows (two in three) and held-out rows (every third) as CSV files:
    the classifier is evaluated on sentences it never saw."""
    rows = list(csv.DictReader(io.StringIO(DEMO_SET.read_text(encoding="utf-8"))))
    parts = ([r for i, r in enumerate(rows) if i % 3 != 2], [r for i, r in enumerate(rows) if i % 3 == 2])
    out = []
    for part in parts:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(part)
        out.append(buffer.getvalue().encode())
    return out[0], out[1]
