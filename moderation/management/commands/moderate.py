"""Moderate a text (or stdin with "-") under a policy and print the verdict."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from moderation import decisions, services
from moderation.choices import DecisionSource
from moderation.models import ModerationPolicy


class Command(BaseCommand):
    help = "Moderate TEXT (or standard input with -) under policy ID; prints the OpenAI-shaped result with --json."

    def add_arguments(self, parser):
        parser.add_argument("text", help='the text, or "-" to read standard input')
        parser.add_argument("--policy", required=True, type=int, help="policy id")
        parser.add_argument("--json", action="store_true", help="print the full JSON response")

    def handle(self, *args, **opts):
        policy = ModerationPolicy.objects.select_related("organization").filter(pk=opts["policy"]).first()
        if policy is None:
            raise CommandError(f"No policy {opts['policy']}")
        text = sys.stdin.read() if opts["text"] == "-" else opts["text"]
        try:
            body = services.moderate([text], organization=policy.organization, policy=policy,
                                     source=DecisionSource.COMMAND)
        except services.ModerationError as exc:
            raise CommandError(str(exc)) from None
        decisions.flush()
        if opts["json"]:
            self.stdout.write(json.dumps(body, ensure_ascii=False, indent=2))
            return
        result = body["results"][0]
        cats = [c for c, on in result["categories"].items() if on]
        self.stdout.write(f"{'FLAGGED' if result['flagged'] else 'ok'} {result['assay']['outcome']} "
                          f"categories={','.join(cats) or '-'} risks={','.join(result['assay']['risks']) or '-'} "
                          f"decision={result['assay']['decision_id']}")
        for hit in result["assay"]["rules"]:
            self.stdout.write(f"  {hit['type']} {hit['id']} {hit['category']} {hit['risk']} "
                              f"[{hit['span'][0]}:{hit['span'][1]}] {hit['match']!r}")
