"""Add a system's own outputs as evidence samples: python manage.py evidence_sample --system ID FILE..."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from audit.models import AISystem
from compliance import samples
from core.errors import AssayError


class Command(BaseCommand):
    help = ("Verify output files of a system for every label layer (after the robustness transformations) and "
            "keep them as evidence for the label and watermark items; --remove ID... takes samples out.")

    def add_arguments(self, parser):
        parser.add_argument("--system", type=int, required=True)
        parser.add_argument("--user", default="", help="username recorded in the audit log (default: the command)")
        parser.add_argument("--remove", type=int, nargs="*", default=[], help="sample ids to remove")
        parser.add_argument("files", nargs="*")

    def handle(self, *args, **opts):
        system = AISystem.objects.filter(pk=opts["system"]).select_related("organization").first()
        if system is None:
            raise CommandError(f"No system {opts['system']}")
        user = None
        if opts["user"]:
            user = get_user_model().objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"No user {opts['user']!r}")
        actor = user or "manage.py evidence_sample"
        for pk in opts["remove"]:
            sample = system.compliance_samples.filter(pk=pk).first()
            if sample is None:
                raise CommandError(f"No sample {pk} of system {system.pk}")
            samples.remove_sample(user=actor, sample=sample)
            self.stdout.write(f"removed sample {pk}")
        if not opts["files"] and not opts["remove"]:
            raise CommandError("Name at least one file (or --remove ID)")
        for name in opts["files"]:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"No file {name}")
            try:
                sample = samples.add_sample(user=actor, system=system, data=path.read_bytes(), filename=path.name)
            except AssayError as exc:
                raise CommandError(f"{name}: {exc}") from None
            layers = sample.report["layers"]
            summary = " · ".join(f"{k} {'ok' if v['ok'] else 'NO'}" for k, v in layers.items())
            self.stdout.write(f"sample {sample.pk} {path.name} ({sample.report['seconds']} s): {summary}")
            for k, v in layers.items():
                self.stdout.write(f"  {k}: {v['note']}")
