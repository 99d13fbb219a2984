import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.backup import restore


class Command(BaseCommand):
    help = "Restore a backup into a fresh, migrated database; verify the audit log and every artifact."

    def add_arguments(self, parser):
        parser.add_argument("archive")

    def handle(self, *args, **opts):
        try:
            report = restore(Path(opts["archive"]))
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"Restore failed: {exc}") from None
        self.stdout.write(json.dumps(report, indent=1))
        if not report["ok"]:
            raise CommandError("Restored, but verification failed (see above)")
