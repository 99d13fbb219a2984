"""HTML → PDF: renders offline, and leaves Pillow strict about truncated uploads."""

import io

import pytest
from PIL import Image, ImageFile

from core.pdf import html_to_pdf


def test_it_renders_a_pdf_and_keeps_pillow_strict():
    pdf = html_to_pdf("<h1>Audit 人工智能</h1><svg width='10' height='10'><rect width='5' height='5'/></svg>")
    assert pdf.startswith(b"%PDF")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # WeasyPrint's import turns it on; we turn it back off
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, "PNG")
    truncated = buffer.getvalue()[:-40]
    with pytest.raises(OSError):
        Image.open(io.BytesIO(truncated)).load()


def test_it_never_fetches_remote_resources():
    pdf = html_to_pdf("<img src='http://127.0.0.1:9/x.png'><p>text</p>")
    assert pdf.startswith(b"%PDF")
