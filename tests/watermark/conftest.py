"""Images and helpers shared by the watermark tests (generated here: tests never read shared/)."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from watermark import robustness


def encode(rgb: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **options)
    return buffer.getvalue()


def png_with_header(width: int, height: int) -> bytes:
    """Return a tiny PNG whose IHDR claims width × height (a decompression bomb or a huge side)."""
    data = bytearray(encode(np.zeros((16, 16, 3), dtype=np.uint8)))
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


class Images:
    encode = staticmethod(encode)
    png_with_header = staticmethod(png_with_header)
    synthetic = staticmethod(robustness.synthetic_image)


@pytest.fixture
def images():
    return Images


@pytest.fixture(scope="session")
def scene() -> np.ndarray:
    return robustness.synthetic_image(0, (512, 384), kind="scene")


@pytest.fixture(scope="session")
def shapes() -> np.ndarray:
    return robustness.synthetic_image(2, (448, 448), kind="shapes")


def bad_inputs() -> dict[str, bytes]:
    """Return uploads that must be refused with a 400, by name."""
    good = encode(robustness.synthetic_image(3, (200, 160)))
    jpeg = encode(robustness.synthetic_image(3, (200, 160)), "JPEG", quality=90)
    buffer = io.BytesIO()
    Image.new("I;16", (64, 64)).save(buffer, "PNG")
    cmyk = io.BytesIO()
    Image.new("CMYK", (64, 64), (0, 50, 100, 0)).save(cmyk, "JPEG")
    return {
        "not an image": b"%PDF-1.4 this is not a picture\n" * 20,
        "empty": b"",
        "truncated png": good[: len(good) // 2],
        "truncated jpeg": jpeg[: len(jpeg) // 2],
        "decompression bomb": png_with_header(20_000, 20_000),
        "huge dimension": png_with_header(30_000, 64),
        "16-bit mode": buffer.getvalue(),
        "cmyk mode": cmyk.getvalue(),
    }


@pytest.fixture
def bad_uploads():
    return bad_inputs()
