"""The artifact store: encrypted at rest, and tampering is detected instead of served."""

import secrets
import shutil

import pytest

from core import artifacts
from core.artifacts import ArtifactIntegrityError
from core.models import Artifact, AuditLogEntry

PLAINTEXT = b"age,income,label\n" + b"42,51000,good\n" * 50


@pytest.fixture
def stored(alice_org):
    return artifacts.store(PLAINTEXT, organization=alice_org, filename="credit.csv")


def _flip_a_byte(path, offset: int = 40) -> None:
    sealed = bytearray(path.read_bytes())
    sealed[offset] ^= 0x01
    path.write_bytes(bytes(sealed))


def test_it_stores_ciphertext_not_plaintext(stored):
    # when
    sealed = artifacts.artifact_path(stored).read_bytes()

    # then
    assert PLAINTEXT[:16] not in sealed
    assert len(sealed) == artifacts.NONCE_BYTES + len(PLAINTEXT) + 16
    assert artifacts.read(stored) == PLAINTEXT


def test_it_seals_the_same_bytes_differently_each_time(alice_org, stored):
    # when
    again = artifacts.store(PLAINTEXT, organization=alice_org, filename="credit.csv")

    # then
    assert again.sha256 == stored.sha256
    assert artifacts.artifact_path(again).read_bytes() != artifacts.artifact_path(stored).read_bytes()


def test_it_detects_a_flipped_byte(stored):
    # given
    _flip_a_byte(artifacts.artifact_path(stored))

    # when / then
    with pytest.raises(ArtifactIntegrityError, match="altered"):
        artifacts.read(stored)


def test_it_detects_a_file_swapped_for_another_artifacts(alice_org, stored):
    # given another artifact's (validly sealed) file copied over this one's
    other = artifacts.store(b"other bytes", organization=alice_org, filename="other.csv")
    shutil.copy(artifacts.artifact_path(other), artifacts.artifact_path(stored))

    # when / then
    with pytest.raises(ArtifactIntegrityError):
        artifacts.read(stored)


def test_it_detects_a_hash_that_does_not_match(stored):
    # given
    Artifact.objects.filter(pk=stored.pk).update(sha256="0" * 64)
    stored.refresh_from_db()

    # when / then
    with pytest.raises(ArtifactIntegrityError, match="SHA-256"):
        artifacts.read(stored)


def test_it_refuses_to_open_an_artifact_sealed_with_an_unknown_key(settings, stored):
    # given the key was rotated without keeping the old one
    settings.ASSAY_ENCRYPTION_KEY = secrets.token_hex(32)

    # when / then
    with pytest.raises(ArtifactIntegrityError, match="not configured"):
        artifacts.read(stored)


def test_it_detects_a_key_that_does_not_match_the_recorded_key_id(settings, stored):
    # given the row claims the current key sealed it, but another key did
    settings.ASSAY_ENCRYPTION_KEY = secrets.token_hex(32)
    Artifact.objects.filter(pk=stored.pk).update(key_id=artifacts.key_id(artifacts.current_key()))
    stored.refresh_from_db()

    # when / then
    with pytest.raises(ArtifactIntegrityError, match="altered"):
        artifacts.read(stored)


def test_it_reads_and_reseals_with_an_old_key_after_rotation(settings, monkeypatch, stored):
    # given
    monkeypatch.setenv("ASSAY_OLD_ENCRYPTION_KEYS", settings.ASSAY_ENCRYPTION_KEY)
    settings.ASSAY_ENCRYPTION_KEY = secrets.token_hex(32)

    # when
    readable = artifacts.read(stored)
    resealed = artifacts.reencrypt(stored)
    monkeypatch.delenv("ASSAY_OLD_ENCRYPTION_KEYS")
    stored.refresh_from_db()

    # then
    assert readable == PLAINTEXT and resealed
    assert stored.key_id == artifacts.key_id(artifacts.current_key())
    assert artifacts.read(stored) == PLAINTEXT


def test_it_downloads_the_original_bytes(as_alice, alice_dataset, helpers, frame):
    # when
    response = as_alice.get(f"/api/v1/datasets/{alice_dataset.pk}/download")

    # then
    assert response.status_code == 200
    assert response.content == helpers.csv_bytes(frame)
    assert response["Content-Disposition"] == 'attachment; filename="credit.csv"'


def test_it_answers_a_tampered_download_with_a_409_and_never_the_bytes(as_alice, alice_dataset, error_of):
    # given
    _flip_a_byte(artifacts.artifact_path(alice_dataset.artifact))
    entries = AuditLogEntry.objects.count()

    # when
    response = as_alice.get(f"/api/v1/datasets/{alice_dataset.pk}/download")

    # then
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "integrity"
    assert "integrity check" in error["message"]
    assert b"age,income" not in response.content
    assert AuditLogEntry.objects.count() == entries  # nothing was downloaded


def test_it_answers_a_missing_file_with_a_409(as_dave, alice_model, error_of):
    # given
    artifacts.artifact_path(alice_model.artifact).unlink()

    # when
    response = as_dave.get(f"/api/v1/models/{alice_model.pk}/download")

    # then
    assert response.status_code == 409
    assert "missing" in error_of(response)["message"]
