from django.core.management.base import BaseCommand

from core import artifacts
from core.models import Artifact


class Command(BaseCommand):
    help = ("Re-encrypt every artifact with ASSAY_ENCRYPTION_KEY. Keep the previous key in "
            "ASSAY_OLD_ENCRYPTION_KEYS while this runs: reads accept both, so the service stays up.")

    def handle(self, *args, **opts):
        current = artifacts.key_id(artifacts.current_key())
        done = 0
        for artifact in Artifact.objects.exclude(key_id=current).iterator():
            done += artifacts.reencrypt(artifact)
        left = Artifact.objects.exclude(key_id=current).count()
        self.stdout.write(f"re-encrypted {done} artifact(s); {left} still on an old key")
