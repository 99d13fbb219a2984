import json

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from accounts.permissions import organization_lookup
from core import auditlog


class Command(BaseCommand):
    help = ("Checkpoint the head of every audit-log chain (each organisation's and the installation's) into "
            "ASSAY_AUDIT_CHECKPOINT_DIR, then verify each chain against its checkpoints. Run it from cron; "
            "it exits non-zero when a chain is broken.")

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="only this organisation (id or slug)")
        parser.add_argument("--no-verify", action="store_true", help="write the checkpoints, skip verification")

    def handle(self, *args, **opts):
        chains = {org.slug: org.pk for org in Organization.objects.order_by("pk")}
        if opts["organization"]:
            chains = {org.slug: org.pk for org in Organization.objects.filter(**organization_lookup(opts["organization"]))}
            if not chains:
                raise CommandError(f"No organisation {opts['organization']!r}")
        else:
            chains["installation"] = None
        broken = []
        for name, org_id in chains.items():
            cp = auditlog.write_checkpoint(org_id)
            line = {"chain": name, "organization": org_id, "seq": cp["seq"], "head": cp["head"],
                    "created": cp["created"], "file": str(auditlog.checkpoint_path(org_id))}
            if not opts["no_verify"]:
                line["verify"] = auditlog.verify(org_id)
                if not line["verify"]["ok"]:
                    broken.append(name)
            self.stdout.write(json.dumps(line))
        if broken:
            raise CommandError(f"The audit log of {', '.join(broken)} does not verify (see above)")
