"""Backup, restore into a fresh database, key rotation without downtime."""

import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import DatasetVersion
from core import artifacts, auditlog
from core.models import Artifact, AuditLogEntry

pytestmark = pytest.mark.django_db(transaction=True)
NEW_KEY = "ab" * 32


def test_it_restores_a_backup_into_a_fresh_database(alice, alice_dataset, tmp_path, artifact_dir, capsys):
    # given: a registry with an artifact and audit-log entries, backed up
    archive = tmp_path / "backup.tar.gz"
    call_command("backup", "--out", str(archive))
    entries, sha = AuditLogEntry.objects.count(), alice_dataset.artifact.sha256

    # when: the database is emptied, the artifact files are gone, and the backup is restored
    call_command("flush", "--no-input", verbosity=0)
    for path in artifact_dir.rglob("*.bin"):
        path.unlink()
    assert not DatasetVersion.objects.exists()
    call_command("restore", str(archive))

    # then: the chain verifies with every entry, and every artifact decrypts to its hash
    restored = DatasetVersion.objects.get()
    assert AuditLogEntry.objects.count() == entries
    chain = auditlog.verify(restored.organization_id)
    assert (chain["ok"], chain["entries"], chain["checkpoint"]["seq"]) == (True, entries, entries)
    assert artifacts.read(restored.artifact) and restored.artifact.sha256 == sha
    assert '"ok": true' in capsys.readouterr().out


def test_a_restore_of_a_tampered_archive_fails(alice, alice_dataset, tmp_path):
    import tarfile

    archive = tmp_path / "backup.tar.gz"
    call_command("backup", "--out", str(archive))
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    name = next(n for n in members if n.endswith(".bin"))
    members[name] = members[name][:-1] + bytes([members[name][-1] ^ 1])
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        import io
        for n, data in members.items():
            info = tarfile.TarInfo(n)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    call_command("flush", "--no-input", verbosity=0)
    with pytest.raises(CommandError, match="does not match its manifest"):
        call_command("restore", str(bad))


def test_it_rotates_the_key_while_old_artifacts_stay_readable(alice, alice_dataset, settings, monkeypatch):
    old_key = settings.ASSAY_ENCRYPTION_KEY
    # the new key is configured; the old one stays readable during the rotation
    settings.ASSAY_ENCRYPTION_KEY = NEW_KEY
    monkeypatch.setenv("ASSAY_OLD_ENCRYPTION_KEYS", old_key)
    assert artifacts.read(alice_dataset.artifact)  # no downtime: old-key artifacts still open
    call_command("rotate_key")
    artifact = Artifact.objects.get(pk=alice_dataset.artifact_id)
    assert artifact.key_id == artifacts.key_id(bytes.fromhex(NEW_KEY))
    # the old key is no longer needed
    monkeypatch.delenv("ASSAY_OLD_ENCRYPTION_KEYS")
    assert artifacts.read(artifact)
    assert os.environ.get("ASSAY_OLD_ENCRYPTION_KEYS") is None
