"""Evaluate a system's checklist from the command line, live or as a recorded assessment."""

import sys

from django.core.management.base import BaseCommand, CommandError

from audit.models import AISystem
from compliance import exports, services
from compliance import vocabulary as v
from compliance.choices import EXPORT_FORMATS


class Command(BaseCommand):
    help = ("Evaluate the compliance checklist of an AI system (live), or record it as an immutable assessment "
            "with --snapshot; print it or write it to --out.")

    def add_arguments(self, parser):
        parser.add_argument("--system", required=True, type=int, help="AI system id")
        parser.add_argument("--framework", required=True, choices=list(v.BUNDLES))
        parser.add_argument("--snapshot", action="store_true", help="record an immutable assessment")
        parser.add_argument("--format", default="json", choices=EXPORT_FORMATS)
        parser.add_argument("--out", help="output file (default: standard output; PDF needs --out)")
        parser.add_argument("--date", help="evaluation date YYYY-MM-DD (default today)")

    def handle(self, *args, **opts):
        system = AISystem.objects.filter(pk=opts["system"]).select_related("organization").first()
        if system is None:
            raise CommandError(f"No AI system with id {opts['system']}")
        try:
            on = services.parse_date(opts["date"])
            if opts["snapshot"]:
                assessment = services.snapshot(user=None, system=system, bundles=[opts["framework"]], on=on)
                document = services.assessment_document(assessment)
                self.stderr.write(f"Recorded assessment {assessment.pk} (sha256 {assessment.sha256})")
            else:
                document = services.live_document(services.evaluate(system, opts["framework"], on))
        except services.ComplianceError as exc:
            raise CommandError(str(exc)) from None
        data = exports.render(document, opts["format"])
        if opts["out"]:
            with open(opts["out"], "wb") as handle:
                handle.write(data)
            self.stderr.write(f"Wrote {opts['out']} ({len(data)} bytes)")
        elif opts["format"] == "pdf":
            raise CommandError("PDF is binary: give --out PATH")
        else:
            sys.stdout.write(data.decode())
