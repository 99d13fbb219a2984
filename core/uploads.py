"""The one upload reader: every API endpoint and page that takes a file reads it through here.

The request body as a whole is capped earlier (ASSAY_MAX_UPLOAD_MB, assay.middleware); a caller
that allows less for one kind of file passes `max_bytes`, checked before a byte is read.
"""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile

from .errors import AssayError

MiB = 1024 * 1024


class UploadTooLarge(AssayError):
    """An uploaded file over the size its endpoint accepts (a 400 naming the field)."""


def read_upload(upload: UploadedFile, *, max_bytes: int | None = None, field: str = "file") -> bytes:
    """Return the bytes of an uploaded file, read chunk by chunk (a large upload sits in a temporary file).

    Raises UploadTooLarge, naming `field`, when the file is larger than `max_bytes`.
    """
    if max_bytes is not None and upload.size is not None and upload.size > max_bytes:
        limit = f"{max_bytes // MiB} MiB" if max_bytes >= MiB else f"{max_bytes} bytes"
        raise UploadTooLarge(f"The file is larger than this endpoint accepts ({limit} at most)",
                             {field: f"At most {limit}"})
    return b"".join(upload.chunks())


def read_optional_upload(upload: UploadedFile | None, **kwargs) -> tuple[bytes | None, str]:
    """Return (bytes, filename) of an optional upload, or (None, "") when none was sent."""
    if upload is None:
        return None, ""
    return read_upload(upload, **kwargs), upload.name or ""
