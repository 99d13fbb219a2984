"""Render a report now from a system's latest succeeded audit: `manage.py report --system ID [--out report.pdf]`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.models import AISystem
from core import artifacts
from core.pdf import PDFUnavailable
from reports import services as reports


class Command(BaseCommand):
    help = "Render, hash and store a report from the system's latest succeeded audit; write its PDF."

    def add_arguments(self, parser):
        parser.add_argument("--system", type=int, required=True, help="AI system id")
        parser.add_argument("--out", help="where to write the PDF (default report-<id>.pdf)")

    def handle(self, *args, **opts):
        system = AISystem.objects.filter(pk=opts["system"]).first()
        if system is None:
            raise CommandError(f"System {opts['system']} does not exist")
        try:
            run = reports.latest_audit(system)
            report = reports.create_report(system, run, user="cli")
        except reports.ReportError as exc:
            raise CommandError(str(exc)) from None
        except PDFUnavailable as exc:
            raise CommandError(str(exc)) from None
        out = Path(opts["out"] or f"report-{report.pk}.pdf")
        try:
            out.write_bytes(artifacts.read(report.artifact))
        except OSError as exc:
            raise CommandError(f"Cannot write {out}: {exc.strerror}") from None
        alerts = f", {len(report.alerts)} alert(s)" if report.alerts else ""
        self.stdout.write(f"Report {report.pk} of audit {run.pk} ({system.name}){alerts}: {out} sha256 {report.sha256}")
