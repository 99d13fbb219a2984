"""The encrypted artifact store: AES-256-GCM at rest, SHA-256 of the plaintext checked on read.

File layout: 12-byte nonce followed by the ciphertext and its 16-byte tag. The artifact's id is the
associated data, so a file swapped for another artifact's file fails authentication too.
"""

import base64
import binascii
import hashlib
import logging
import os
import threading
from pathlib import Path

from celery.signals import task_postrun
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.signals import request_finished
from django.db import DatabaseError, transaction

from .models import Artifact

NONCE_BYTES = 12
logger = logging.getLogger(__name__)


class ArtifactIntegrityError(Exception):
    """A stored artifact is missing, was tampered with, or does not match its recorded hash."""


def parse_key(text: str) -> bytes:
    """Return the 32-byte key from its hex (64 characters) or base64 form."""
    text = text.strip()
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != 32:
        raise ValueError("ASSAY_ENCRYPTION_KEY must be 32 bytes, as 64 hex characters or base64")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def current_key() -> bytes:
    return parse_key(settings.ASSAY_ENCRYPTION_KEY)


def _keyring() -> dict[str, bytes]:
    """Return every key that may open an artifact: the current one and ASSAY_OLD_ENCRYPTION_KEYS."""
    keys = [current_key()] + [parse_key(k) for k in os.getenv("ASSAY_OLD_ENCRYPTION_KEYS", "").split(",") if k]
    return {key_id(k): k for k in keys}


def artifact_path(artifact: Artifact) -> Path:
    return Path(settings.ASSAY_ARTIFACT_DIR) / str(artifact.organization_id) / f"{artifact.pk}.bin"


def store(data: bytes, *, organization, filename: str) -> Artifact:
    """Encrypt `data` to the store and return its (saved) Artifact row."""
    key = current_key()
    artifact = Artifact(
        organization=organization, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
        filename=Path(filename).name[:255] or "upload", key_id=key_id(key),
    )
    discard_orphans()
    _write(artifact, data, key)
    try:
        artifact.save()
    except BaseException:
        artifact_path(artifact).unlink(missing_ok=True)
        raise
    if transaction.get_connection().in_atomic_block:
        entry = (artifact.pk, artifact_path(artifact))
        _written_in_transaction().append(entry)
        transaction.on_commit(lambda: _forget(entry))  # committed: nothing to check
    return artifact


#
# Files of rolled-back transactions: `store` writes the file at once (code later in the same
# transaction may read it), and a transaction that then rolls back (a failed upload) takes the row
# with it; the file is removed when the request or task ends, or at this thread's next `store`.
#

_local = threading.local()


def _written_in_transaction() -> list[tuple[object, Path]]:
    if not hasattr(_local, "written"):
        _local.written = []
    return _local.written


def _forget(entry) -> None:
    written = _written_in_transaction()
    if entry in written:
        written.remove(entry)


def discard_orphans() -> int:
    """Remove the files this thread stored whose Artifact row did not survive; return how many.

    A file whose row exists is forgotten once no transaction is open (it was committed), and kept
    in view while one is (it may still roll back).
    """
    written = _written_in_transaction()
    if not written:
        return 0
    try:
        alive = set(Artifact.objects.filter(pk__in=[pk for pk, _ in written]).values_list("pk", flat=True))
        open_transaction = transaction.get_connection().in_atomic_block
    except DatabaseError:  # a transaction that must roll back first: look again later
        return 0
    removed = 0
    for pk, path in list(written):
        if pk in alive and open_transaction:
            continue
        written.remove((pk, path))
        if pk not in alive:
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        logger.info("Removed %d artifact file(s) of rolled-back transactions", removed)
    return removed


def _discard_orphans_after(**kwargs) -> None:
    discard_orphans()


request_finished.connect(_discard_orphans_after, dispatch_uid="assay.artifacts.discard_orphans")
task_postrun.connect(_discard_orphans_after, dispatch_uid="assay.artifacts.discard_orphans", weak=False)


def _write(artifact: Artifact, data: bytes, key: bytes) -> None:
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(key).encrypt(nonce, data, str(artifact.pk).encode())
    path = artifact_path(artifact)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(sealed)
    os.replace(tmp, path)


def read(artifact: Artifact) -> bytes:
    """Return the plaintext of `artifact`, or raise ArtifactIntegrityError; never returns tampered bytes."""
    path = artifact_path(artifact)
    try:
        sealed = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactIntegrityError(f"Artifact {artifact.pk} ({artifact.filename}) is missing from the store") from None
    key = _keyring().get(artifact.key_id)
    if key is None:
        raise ArtifactIntegrityError(f"Artifact {artifact.pk} was sealed with key {artifact.key_id}, which is not configured")
    try:
        data = AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], str(artifact.pk).encode())
    except (InvalidTag, ValueError):
        raise ArtifactIntegrityError(
            f"Artifact {artifact.pk} ({artifact.filename}) failed its integrity check: the stored file was altered"
        ) from None
    if hashlib.sha256(data).hexdigest() != artifact.sha256:
        raise ArtifactIntegrityError(f"Artifact {artifact.pk} ({artifact.filename}) does not match its recorded SHA-256")
    return data


def reencrypt(artifact: Artifact) -> bool:
    """Re-seal `artifact` with the current key; return False when it already uses it."""
    key = current_key()
    if artifact.key_id == key_id(key):
        return False
    data = read(artifact)
    _write(artifact, data, key)
    Artifact.objects.filter(pk=artifact.pk).update(key_id=key_id(key))
    return True
