"""Backup and restore: a database dump plus the encrypted artifact files, checked on restore.

The archive holds `db.json` (Django's dumpdata), `artifacts/<org>/<id>.bin` (still encrypted: the
key is not in the backup) and `manifest.json` (each artifact's recorded SHA-256 and file digest, and
a signed checkpoint of every audit-log chain, taken just before the dump). A restore verifies every
chain with the audit-log key, against the backup's checkpoints and against the checkpoint files
already on this machine; once it verifies, the restored heads are checkpointed here.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from core import artifacts, auditlog
from core.models import Artifact

EXCLUDE = ["contenttypes", "auth.permission", "sessions", "admin.logentry"]
# Models that changed app since a backup may have been taken: the dump names them by their old label.
MOVED = {"audit.artifact": "core.artifact", "audit.auditlogentry": "core.auditlogentry",
         "audit.chainhead": "core.chainhead", "audit.schedule": "reports.schedule",
         "audit.scheduledrun": "reports.scheduledrun", "audit.report": "reports.report",
         "audit.reportdelivery": "reports.reportdelivery"}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _chains() -> dict:
    """Return every chain's name (organisation slug, or "installation") and organisation id."""
    from accounts.models import Organization

    return {**dict(Organization.objects.order_by("pk").values_list("slug", "pk")), "installation": None}


def backup(path: Path) -> dict:
    """Write the archive to `path` and return its manifest."""
    # Checkpoint first: every head checkpointed is then in the dump (which may only have grown since).
    checkpoints = {name: auditlog.write_checkpoint(org_id) for name, org_id in _chains().items()}
    dump = io.StringIO()
    call_command("dumpdata", "--natural-foreign", "--natural-primary", *sum([["-e", e] for e in EXCLUDE], []),
                 stdout=dump)
    manifest = {"artifacts": {}, "checkpoints": checkpoints}
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "db.json", dump.getvalue().encode())
        for artifact in Artifact.objects.order_by("pk"):
            sealed = artifacts.artifact_path(artifact).read_bytes()
            name = f"artifacts/{artifact.organization_id}/{artifact.pk}.bin"
            _add(tar, name, sealed)
            manifest["artifacts"][str(artifact.pk)] = {"file": name, "sha256": artifact.sha256,
                                                       "sealed_sha256": hashlib.sha256(sealed).hexdigest()}
        _add(tar, "manifest.json", json.dumps(manifest, indent=1).encode())
    return manifest


def _relabel(dump: bytes) -> bytes:
    """Return the dump with the models of an older layout named by their current app (MOVED)."""
    rows = json.loads(dump)
    if not any(row.get("model") in MOVED for row in rows):
        return dump
    for row in rows:
        row["model"] = MOVED.get(row.get("model"), row.get("model"))
    return json.dumps(rows).encode()


def restore(path: Path) -> dict:
    """Load the archive into the (migrated, empty) database and artifact folder; return the check."""
    root = Path(settings.ASSAY_ARTIFACT_DIR)
    with tarfile.open(path, "r:gz") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        for entry in manifest["artifacts"].values():
            data = tar.extractfile(entry["file"]).read()
            if hashlib.sha256(data).hexdigest() != entry["sealed_sha256"]:
                raise ValueError(f"{entry['file']} in the backup does not match its manifest")
            target = root / Path(entry["file"]).relative_to("artifacts")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        fixture = Path(settings.DATA_DIR) / "restore-db.json"
        fixture.write_bytes(_relabel(tar.extractfile("db.json").read()))
    try:
        call_command("loaddata", str(fixture), verbosity=0)
    finally:
        fixture.unlink(missing_ok=True)
    result = verify_store(checkpoints=manifest.get("checkpoints") or {})
    if result["ok"]:
        for org_id in _chains().values():
            auditlog.write_checkpoint(org_id)
    return result


def _bad_checkpoint(problem: str) -> dict:
    return {"ok": False, "first_broken": {"id": None, "seq": None,
                                          "reason": f"the backup's checkpoint of this chain is invalid: {problem}"}}


def verify_store(checkpoints: dict | None = None) -> dict:
    """Return every chain's verification and every artifact's integrity check.

    `checkpoints` maps a chain's name (organisation slug, or "installation") to a checkpoint from
    elsewhere (a backup's manifest): the chain must contain it, as well as the checkpoints on disk.
    """
    checkpoints = checkpoints or {}
    chains = {}
    for name, org_id in _chains().items():
        given = checkpoints.get(name)
        problem = auditlog.checkpoint_problem(given, org_id) if given is not None else None
        chains[name] = _bad_checkpoint(problem) if problem else \
            auditlog.verify(org_id, checkpoints=[given] if given is not None else [])
    missing = sorted(set(checkpoints) - set(chains))
    for name in missing:  # a chain the backup had that the database no longer has
        chains[name] = {"ok": False, "first_broken": {
            "id": None, "seq": 1, "reason": "the backup checkpointed this chain, but the database has no such organisation"}}
    broken = []
    for artifact in Artifact.objects.all():
        try:
            artifacts.read(artifact)
        except artifacts.ArtifactIntegrityError as exc:
            broken.append(str(exc))
    ok = all(c["ok"] for c in chains.values()) and not broken
    return {"ok": ok, "chains": chains, "artifacts": Artifact.objects.count(), "broken_artifacts": broken}
