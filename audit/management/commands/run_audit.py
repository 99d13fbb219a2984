"""Run one audit of a registered model version in-process (for CI pipelines)."""

import json

from django.core.management.base import BaseCommand, CommandError

from audit import jobs
from audit.models import AuditRun, DatasetVersion, ModelVersion


class Command(BaseCommand):
    help = "Audit a registered model version on a dataset version in this process and print the scores."

    def add_arguments(self, parser):
        parser.add_argument("--model-version", type=int, required=True)
        parser.add_argument("--dataset-version", type=int, required=True)
        parser.add_argument("--config", default="{}", help="audit config as a JSON object")
        parser.add_argument("--json", dest="json_path", help="write the Result JSON here")

    def handle(self, *args, **opts):
        model = ModelVersion.objects.filter(pk=opts["model_version"]).first()
        dataset = DatasetVersion.objects.filter(pk=opts["dataset_version"]).first()
        if model is None or dataset is None:
            raise CommandError("No such model version" if model is None else "No such dataset version")
        try:
            config = json.loads(opts["config"])
            run = jobs.start_audit(user=None, model_version=model, dataset_version=dataset, config=config,
                                   enqueue=False)
        except (json.JSONDecodeError, jobs.AuditError) as exc:
            raise CommandError(f"Invalid config: {exc}") from None
        jobs.execute_audit(run.pk)
        run = AuditRun.objects.get(pk=run.pk)
        if run.status != "succeeded":
            raise CommandError(f"Audit {run.pk} {run.status}: {run.error}")
        if opts["json_path"]:
            with open(opts["json_path"], "w") as fh:
                json.dump({"audit": run.pk, **run.result}, fh, indent=2)
        scores = ", ".join(f"{d} {s:.2f}" if s is not None else f"{d} n/a" for d, s in run.dimension_scores.items())
        self.stdout.write(f"Audit {run.pk} succeeded in {run.result['timings']['total_s']:.1f} s: {scores}")
