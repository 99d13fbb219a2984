"""Train a DP variant of a registered zoo model version in this process, audit it, print the summary."""

import json

from django.core.management.base import BaseCommand, CommandError

from audit import jobs as audit_jobs
from audit.models import AuditRun, DatasetVersion, ModelVersion
from privacy import dp, services
from privacy.models import DPTrainingRun

AUDIT_METRICS = ("FAIR-03", "PRIV-01", "PRIV-02", "PRIV-03")


class Command(BaseCommand):
    help = ("Train a differentially-private variant of a torch-zoo model version on a dataset version's training "
            "rows (Opacus accounting), register it, audit it on the same dataset version, and print the summary.")

    def add_arguments(self, parser):
        parser.add_argument("--model-version", type=int, required=True, help="the non-private parent (torch-zoo)")
        parser.add_argument("--dataset-version", type=int, required=True)
        budget = parser.add_mutually_exclusive_group(required=True)
        budget.add_argument("--epsilon", type=float, help="target ε (the noise multiplier is found for it)")
        budget.add_argument("--noise-multiplier", type=float, help="σ (the ε it spends is reported)")
        parser.add_argument("--delta", type=float, help="default: the largest power of ten below 1/n_train")
        parser.add_argument("--max-grad-norm", type=float, default=1.0)
        parser.add_argument("--epochs", type=int, default=5)
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument("--lr", type=float, default=1e-3)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", dest="json_path", help="write the summary as JSON here")

    def handle(self, *args, **opts):
        model = ModelVersion.objects.filter(pk=opts["model_version"]).first()
        dataset = DatasetVersion.objects.filter(pk=opts["dataset_version"]).first()
        if model is None or dataset is None:
            raise CommandError("No such model version" if model is None else "No such dataset version")
        params = dp.DPParams(epsilon=opts["epsilon"], noise_multiplier=opts["noise_multiplier"], delta=opts["delta"],
                             max_grad_norm=opts["max_grad_norm"], epochs=opts["epochs"],
                             batch_size=opts["batch_size"], lr=opts["lr"], seed=opts["seed"])
        try:
            run = services.start_dp_training(user=None, model_version=model, dataset_version=dataset, params=params,
                                             enqueue=False, reference_audit=False)
        except services.DPTrainingError as exc:
            raise CommandError(str(exc)) from None
        services.execute_dp_training(run.pk, enqueue_audit=False)
        run.refresh_from_db()
        if run.audit_id is None:
            raise CommandError(f"DP training {run.pk} {run.status}: {run.error}")
        audit_jobs.execute_audit(run.audit_id)
        summary = _summary(run, AuditRun.objects.get(pk=run.audit_id))
        if opts["json_path"]:
            with open(opts["json_path"], "w") as fh:
                json.dump(summary, fh, indent=2)
        self.stdout.write(json.dumps(summary))


def _summary(run: DPTrainingRun, audit: AuditRun) -> dict:
    result = run.result
    metrics = (audit.result or {}).get("metrics", {})
    return {
        "model_version": run.result_model_id, "parent": run.model_version_id, "epsilon": result["epsilon"],
        "delta": result["delta"], "noise_multiplier": result["noise_multiplier"],
        "max_grad_norm": result["max_grad_norm"], "epochs": result["epochs"], "sample_rate": result["sample_rate"],
        "accountant": result["accountant"], "accuracy": result["accuracy"],
        "parent_accuracy": result["parent_accuracy"],
        "audit": {"id": audit.pk, "status": audit.status, "error": audit.error or None,
                  "dimension_scores": audit.dimension_scores,
                  "metrics": {mid: metrics[mid]["value"] for mid in AUDIT_METRICS if mid in metrics}},
        "seconds_per_epoch": result["seconds_per_epoch"],
    }
