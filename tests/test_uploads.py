"""The one upload reader (core/uploads.py)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile

from core.errors import AssayError
from core.uploads import UploadTooLarge, read_optional_upload, read_upload


def test_it_reads_an_upload_in_memory_or_on_disk():
    # given
    small = SimpleUploadedFile("a.csv", b"a,b\n1,2\n")
    large = TemporaryUploadedFile("b.bin", "application/octet-stream", 0, None)
    large.write(b"x" * 200_000)
    large.seek(0)
    large.size = 200_000

    # then
    assert read_upload(small) == b"a,b\n1,2\n"
    assert read_upload(large) == b"x" * 200_000


def test_it_refuses_a_file_over_the_limit_naming_the_field():
    # given
    upload = SimpleUploadedFile("a.bin", b"x" * 11)

    # when
    with pytest.raises(UploadTooLarge) as caught:
        read_upload(upload, max_bytes=10, field="sample")

    # then
    assert isinstance(caught.value, AssayError)
    assert caught.value.fields == {"sample": "At most 10 bytes"}
    assert read_upload(upload, max_bytes=11) == b"x" * 11


def test_it_reads_an_optional_upload_or_none():
    assert read_optional_upload(None) == (None, "")
    assert read_optional_upload(SimpleUploadedFile("r.pdf", b"%PDF")) == (b"%PDF", "r.pdf")
