import json
from pathlib import Path

from django.core.management.base import BaseCommand

from core.backup import backup


class Command(BaseCommand):
    help = "Write a backup archive: the database (dumpdata) and the encrypted artifacts, with a manifest."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="archive path (.tar.gz)")

    def handle(self, *args, **opts):
        manifest = backup(Path(opts["out"]))
        self.stdout.write(json.dumps({"out": opts["out"], "artifacts": len(manifest["artifacts"])}))
