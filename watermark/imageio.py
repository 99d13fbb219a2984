"""Reading and writing images safely: PNG, JPEG and WebP only, with limits checked before decoding.

A file that is not an image, is truncated, would decode to more pixels than allowed (a
decompression bomb), has a side longer than allowed, is animated or has a pixel mode Assay does
not handle raises `ImageError` with a message meant for the person who sent it.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA")
MAX_PIXELS = 40_000_000
MAX_SIDE = 12_000
MIN_SIDE = 16
JPEG_QUALITY = 95
WEBP_QUALITY = 95

ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageError(ValueError):
    """The upload cannot be stamped or verified; the message says why."""


@dataclass
class Decoded:
    """A decoded image: RGB pixels, the alpha plane if any, and where it came from."""

    rgb: np.ndarray  # (H, W, 3) uint8
    alpha: np.ndarray | None  # (H, W) uint8
    format: str  # PNG, JPEG or WEBP
    icc_profile: bytes | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def mime(self) -> str:
        return FORMATS[self.format]


def normalise_format(name: str | None) -> str | None:
    """Return PNG, JPEG or WEBP for a user's format name, None for None; raise ImageError otherwise."""
    if name in (None, ""):
        return None
    fmt = FORMAT_NAMES.get(str(name).lower().lstrip("."))
    if fmt is None:
        raise ImageError(f"Unsupported output format {name!r}: use png, jpeg or webp")
    return fmt


@dataclass(frozen=True)
class Probe:
    """What an image's header says, read without decoding a pixel."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def probe(data: bytes, *, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> Probe:
    """Return the image's format and size from its header, or raise ImageError (bombs included)."""
    image = _open(data, max_pixels, max_side)
    try:
        return Probe(image.format, *image.size)
    finally:
        image.close()


def _bomb(exc: BaseException, max_pixels: int) -> ImageError:
    match = re.search(r"\((\d+) pixels\)", str(exc))
    declared = f"{int(match.group(1)):,} pixels" if match else "more pixels than allowed"
    return ImageError(f"The image declares {declared}; the limit is {max_pixels:,} pixels (a decompression bomb?)")


def _open(data: bytes, max_pixels: int, max_side: int) -> Image.Image:
    """Return the image opened lazily (nothing decoded) after the checks its header allows."""
    if not data:
        raise ImageError("The file is empty")
    with warnings.catch_warnings():
        # Pillow warns above Image.MAX_IMAGE_PIXELS and refuses above twice that while opening;
        # the limit that counts is `max_pixels`, checked below from the header.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageError("The file is not an image Assay can read (PNG, JPEG or WebP)") from None
        except Image.DecompressionBombError as exc:
            raise _bomb(exc, max_pixels) from None
        except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
            raise ImageError(f"The file is not a readable image: {exc}") from None
    fmt = image.format
    if fmt not in FORMATS:
        raise ImageError(f"Unsupported image format {fmt}: use PNG, JPEG or WebP")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"The image has {width}×{height} = {width * height:,} pixels; the limit is {max_pixels:,} pixels "
            "(a decompression bomb?)"
        )
    if max(width, height) > max_side:
        raise ImageError(f"The image is {width}×{height}: a side longer than {max_side:,} px is not accepted")
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"The image is {width}×{height}: both sides must be at least {MIN_SIDE} px")
    return image


def decode(data: bytes, *, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> Decoded:
    """Return the decoded image in `data`, or raise ImageError saying what is wrong with it.

    Pixels and sides are checked from the header before anything is decoded.
    """
    image = _open(data, max_pixels, max_side)
    fmt = image.format
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if getattr(image, "n_frames", 1) > 1:
            raise ImageError("Animated images are not supported")
        if image.mode not in MODES:
            raise ImageError(f"Unsupported pixel mode {image.mode}: use 8-bit greyscale, palette, RGB or RGBA")
        try:
            image.load()
        except Image.DecompressionBombError as exc:
            raise _bomb(exc, max_pixels) from None
        except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
            message = str(exc) or type(exc).__name__
            if "truncated" in message or "broken" in message.lower():
                raise ImageError("The image file is truncated") from None
            raise ImageError(f"The image could not be decoded: {message}") from None
    icc = image.info.get("icc_profile")
    image = ImageOps.exif_transpose(image)
    has_alpha = image.mode in ("LA", "PA", "RGBA") or (image.mode == "P" and "transparency" in image.info)
    rgba = image.convert("RGBA") if has_alpha else None
    rgb = np.asarray((rgba or image).convert("RGB"), dtype=np.uint8).copy()
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.uint8).copy() if rgba is not None else None
    return Decoded(rgb=rgb, alpha=alpha, format=fmt, icc_profile=icc)


def encode(rgb: np.ndarray, fmt: str, *, alpha: np.ndarray | None = None, icc_profile: bytes | None = None) -> bytes:
    """Return `rgb` (and `alpha`, dropped for JPEG) encoded as PNG, JPEG or WebP, without other metadata."""
    image = Image.fromarray(rgb, "RGB")
    if alpha is not None and fmt != "JPEG":
        image.putalpha(Image.fromarray(alpha, "L"))
    options: dict = {"icc_profile": icc_profile} if icc_profile else {}
    if fmt == "JPEG":
        options.update(quality=JPEG_QUALITY, subsampling=0, optimize=True)
    elif fmt == "WEBP":
        options.update(quality=WEBP_QUALITY, method=4)
    elif fmt == "PNG":
        options.update(compress_level=6)
    else:
        raise ImageError(f"Unsupported output format {fmt}")
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def pixel_sha256(rgb: np.ndarray, alpha: np.ndarray | None = None) -> str:
    """Return the SHA-256 (hex) of decoded pixels: b"RGB" or b"RGBA", width and height as
    big-endian 32-bit integers, then the samples row by row.

    This is what the AIGC label's integrity code covers: the picture, not the file's bytes
    (which hold the label itself).
    """
    height, width = rgb.shape[:2]
    digest = hashlib.sha256()
    if alpha is None:
        digest.update(b"RGB" + struct.pack(">II", width, height))
        digest.update(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes())
    else:
        digest.update(b"RGBA" + struct.pack(">II", width, height))
        digest.update(np.ascontiguousarray(np.dstack([rgb, alpha]), dtype=np.uint8).tobytes())
    return digest.hexdigest()
