"""Evaluate a policy on a labelled CSV and write the result JSON."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from moderation import services
from moderation.models import ModerationPolicy


class Command(BaseCommand):
    help = "Evaluate policy ID on a labelled set (text, categories columns); write precision/recall/F1 as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--policy", required=True, type=int)
        parser.add_argument("--data", required=True, help="labelled CSV, XLSX or JSONL")
        parser.add_argument("--json", required=True, dest="out", help='output file ("-" for standard output)')
        parser.add_argument("--no-save", action="store_true", help="do not store the evaluation in Assay")

    def handle(self, *args, **opts):
        policy = ModerationPolicy.objects.select_related("organization").filter(pk=opts["policy"]).first()
        if policy is None:
            raise CommandError(f"No policy {opts['policy']}")
        path = Path(opts["data"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            evaluation = services.run_evaluation(policy, data=path.read_bytes(), filename=path.name,
                                                 save=not opts["no_save"])
        except services.ModerationError as exc:
            raise CommandError(str(exc)) from None
        body = {"evaluation": evaluation.pk, "data_sha256": evaluation.data_sha256, **evaluation.results}
        text = json.dumps(body, ensure_ascii=False, indent=2)
        if opts["out"] == "-":
            self.stdout.write(text)
        else:
            Path(opts["out"]).write_text(text, encoding="utf-8")
            f = body["flagged"]
            self.stdout.write(f"n={body['n']} precision={f['precision']['value']} recall={f['recall']['value']} "
                              f"f1={f['f1']} → {opts['out']}")
